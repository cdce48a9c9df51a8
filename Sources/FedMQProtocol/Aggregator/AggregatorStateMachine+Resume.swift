import FedMQCore

/// Resuming a job after a restart: the checkpoint and the open round's spool.
extension AggregatorStateMachine {
    /// Resumes from a checkpoint and the updates spooled for its open round (with their
    /// agents' signatures where the spool kept them: a homomorphic round needs them again).
    public init(
        job: String, policy: RoundPolicy, checkpoint: AggregatorCheckpoint, modelBytes: [UInt8],
        spooled: [(agent: String, payload: [UInt8])], signatures: [String: String] = [:],
        evaluator: (@Sendable (Parameters) -> Evaluation?)? = nil, signers: [String: VerifyingKey]? = nil, keyholder: VerifyingKey? = nil,
        publicData: Dataset? = nil, random: any RandomNumberGenerator = SystemRandomNumberGenerator()
    ) throws(ProtocolError) {
        let model = try JobStart.resumedModel(job: job, policy: policy, checkpoint: checkpoint, modelBytes: modelBytes)
        try self.init(
            job: job, policy: policy, model: model, modelBytes: modelBytes, announcement: checkpoint.announcement,
            accountant: policy.privacy == nil ? nil : (checkpoint.accountant ?? RDPAccountant()), evaluator: evaluator, signers: signers,
            keyholder: keyholder, publicData: publicData, random: random)
        finished = checkpoint.finished
        lastMetrics = checkpoint.lastMetrics
        if let state = checkpoint.strategyState { strategy.restore(carriedState: state) }
        strategy.begin(global: model.parameters)
        for (agent, payload) in spooled where policy.homomorphic != nil && !finished {
            // Encrypted updates wait for the key holder's key, which comes with the connection.
            waitingForKey.append((agent, announcement.round, payload, signatures[agent], true))
        }
        for (agent, payload) in spooled where policy.homomorphic == nil {
            // These passed validation (signature included) before they were spooled; the spool is
            // the aggregator's own state, so they are replayed without spooling or verifying again.
            if case .success(let update) = validator(checkingSignatures: false).validate(agent: agent, round: announcement.round, payload: payload) {
                _ = fold(update)
            }
        }
        // A secure round's keys and shares lived in the previous process: this attempt starts
        // over with an empty key stage, which ends at its deadline and fails the round cleanly.
        openSecureRound(now: checkpoint.announcement.openedAt)
    }

    /// What a restart resumes from: the open round, the model's hash and the accounts.
    func checkpoint() -> AggregatorCheckpoint {
        AggregatorCheckpoint(
            announcement: announcement, modelSHA256: model.sha256, finished: finished, accountant: accountant, lastMetrics: lastMetrics,
            strategyState: strategy.carriedState)
    }
}
