import FedMQCore
import FedMQProtocol
import FedMQRuntime

extension AgentRuntime {
    /// The agent's student (kept in the state directory, owner only) after one more
    /// distillation from the global model `teacher` on the training rows, evaluated on the
    /// held-out rows (both already scaled as the teacher's spec says). A kept student of another
    /// spec (the config changed) starts over.
    static func distill(
        _ distillation: DistillationConfig, teacher: GlobalModel, train: Dataset, holdout: Dataset, config: AgentConfig
    ) throws(CoreError) -> Evaluation {
        let path = config.stateDirectory + "/student-\(config.job).safetensors"
        let names = distillation.student.parameterLayout.map(\.name)
        let kept = (try? SafetensorsDecoder.decode(DurableFile.read(path)).parameters(orderedAs: names)).flatMap {
            (try? distillation.student.check($0)) == nil ? nil : $0
        }
        var student: Parameters
        if let kept { student = kept } else { student = try distillation.student.initialParameters(seed: config.seed) }
        var random = SplitMix64(seed: config.seed &+ UInt64(teacher.round) &* 104_729)
        try distillation.train(&student, teacher: teacher.parameters, teacherSpec: teacher.spec, on: train, random: &random)
        do {
            try DurableFile.write(SafetensorsEncoder.encode(student, metadata: [ModelCodec.Key.job: config.job]), to: path, mode: 0o600)
        } catch {
            throw .io(path: path, reason: "cannot keep the student: \(error)")
        }
        return try Evaluation.evaluate(student, spec: distillation.student, on: holdout)
    }
}
