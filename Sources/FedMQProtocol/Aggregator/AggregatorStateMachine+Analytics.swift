import FedMQCore

/// Analytics jobs: the answers of a closed round, and a finished job asked new queries.
extension AggregatorStateMachine {
    /// The round's answers: the aggregate is the base plus the agents' (noisy) mean vector, so
    /// their sum is the difference times the number of updates. The model is the queries'
    /// statistics vector (checked at start), so the sizes agree.
    static func answers(_ analytics: AnalyticsSettings, base: Parameters, aggregate: Parameters, updates: Int) -> [AnalyticsAnswer]? {
        let before = base.tensors.flatMap(\.values)
        let after = aggregate.tensors.flatMap(\.values)
        let sums = zip(before, after).map { (Double($1) - Double($0)) * Double(updates) }
        return try? AnalyticsAnswer.answers(analytics, sums: sums)
    }

    /// The next query of a finished analytics job: round r + 1 opens at `now` with the policy's
    /// (possibly new) queries, their statistics vector as the model (still numbered r, so agents
    /// take it), and the job's privacy accounting carried on, since every answer the job
    /// published adds to what its agents' records reveal.
    public init(
        nextQueryAfter checkpoint: AggregatorCheckpoint, job: String, policy: RoundPolicy, now: Double, signers: [String: VerifyingKey]? = nil,
        random: any RandomNumberGenerator = SystemRandomNumberGenerator()
    ) throws(ProtocolError) {
        guard let analytics = policy.analytics else { throw .invalidConfiguration("only an analytics job takes new queries") }
        let last = checkpoint.announcement.round
        guard checkpoint.finished, checkpoint.announcement.job == job, (policy.rounds ?? .max) > last else {
            throw .invalidConfiguration("new queries follow a finished analytics job of the same name, with rounds beyond its last (\(last))")
        }
        let spec = ModelSpec.statistics(analytics)
        let parameters: Parameters
        do {
            parameters = try spec.initialParameters(seed: 0)
        } catch {
            throw .core(error)
        }
        _ = try JobStart.initialModel(job: job, policy: policy, spec: spec, parameters: parameters)
        let bytes = ModelCodec.encodeModel(parameters, spec: spec, job: job, round: last)
        let model = GlobalModel(job: job, round: last, spec: spec, parameters: parameters, sha256: ModelCodec.sha256(bytes))
        try self.init(
            job: job, policy: policy, model: model, modelBytes: bytes,
            announcement: Self.announce(job: job, round: last + 1, policy: policy, base: model.sha256, now: now),
            accountant: policy.privacy == nil ? nil : (checkpoint.accountant ?? RDPAccountant()), evaluator: nil, signers: signers,
            keyholder: nil, random: random)
        lastMetrics = checkpoint.lastMetrics
        strategy.begin(global: parameters)
        openSecureRound(now: now)
    }
}
