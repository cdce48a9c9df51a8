import FedMQCore

/// What every job mode checks before it runs: a fresh job's first model, and a resumed job's
/// model against its checkpoint.
enum JobStart {
    /// The round-0 model of a fresh job, and its bytes, after checking the job, policy and spec.
    static func initialModel(
        job: String, policy: RoundPolicy, spec: ModelSpec, parameters: Parameters
    ) throws(ProtocolError) -> (model: GlobalModel, bytes: [UInt8]) {
        try Identifier.validate(job, kind: "job")
        try policy.validate()
        do {
            try spec.validate()
            try spec.check(parameters)
        } catch {
            throw .core(error)
        }
        let bytes = ModelCodec.encodeModel(parameters, spec: spec, job: job, round: 0)
        return (GlobalModel(job: job, round: 0, spec: spec, parameters: parameters, sha256: ModelCodec.sha256(bytes)), bytes)
    }

    /// The model a checkpoint was saved with, refused unless its bytes and job match the
    /// checkpoint's record and the checkpoint is of the policy's mode.
    static func resumedModel(
        job: String, policy: RoundPolicy, checkpoint: AggregatorCheckpoint, modelBytes: [UInt8]
    ) throws(ProtocolError) -> GlobalModel {
        try policy.validate()
        let saved: JobMode = checkpoint.asynchronous == nil ? .rounds : .asynchronous
        guard saved == policy.mode else {
            throw .invalidConfiguration(
                "the checkpoint is a '\(saved.rawValue)' job's, the policy's mode is '\(policy.mode.rawValue)': a job keeps its mode (start another in its own state_directory)"
            )
        }
        let model = try ModelCodec.decodeModel(modelBytes)
        guard model.sha256 == checkpoint.modelSHA256, model.job == job, checkpoint.announcement.job == job else {
            throw .invalidModel("the checkpoint's model does not match its record (sha256 or job differ)")
        }
        return model
    }
}
