import FedMQCore

/// Applying a full buffer: the new version (or a failed one that keeps the model), its
/// privacy, the metrics, the checkpoint, and the next round.
extension BufferedAggregatorStateMachine {
    /// Makes the next version from the buffer and opens the round after it (or finishes).
    mutating func apply(now: Double) -> [AggregatorAction] {
        let round = announcement.round
        let counted = buffer
        var failure: String?
        var parameters = model.parameters
        do {
            parameters = try strategy.finish()
        } catch {
            failure = "the strategy could not aggregate: \(error)"
        }
        let weights = counted.values.map(\.weight)
        var privacy: (epsilon: Double, threatModel: String)?
        if failure == nil, let policyPrivacy = policy.privacy, var charged = accountant {
            do {
                let multiplier = policyPrivacy.publishedModelMultiplier(weightSquares: weights.reduce(0) { $0 + $1 * $1 })
                let epsilon = try ModelRelease.charge(
                    &parameters, privacy: policyPrivacy, accountant: &charged, updates: counted.count, multiplier: multiplier, using: &random)
                privacy = (epsilon, ModelRelease.threatModel(policyPrivacy))
            } catch {
                // Noise fails closed: a model that did not get its noise is not published.
                failure = "the aggregator's noise failed (\(error)); the model is kept"
            }
            if failure == nil && parameters.allFinite { accountant = charged }
        }
        // An aggregate that is not finite is never published, and nothing is charged for it.
        if failure == nil && !parameters.allFinite {
            failure = "the aggregate is not finite (an update of extreme values); the model is kept"
            privacy = nil
        }
        let federated = evaluations.take(modelRound: model.round, anomalyQuantile: model.spec.anomalyThresholdQuantile)
        if failure == nil {
            let bytes = ModelCodec.encodeModel(parameters, spec: model.spec, job: job, round: round)
            model = GlobalModel(job: job, round: round, spec: model.spec, parameters: parameters, sha256: ModelCodec.sha256(bytes))
            modelBytes = bytes
        }
        let evaluation = failure == nil ? evaluator?(parameters) : nil
        let participants = counted.keys.sorted()
        var metrics = RoundMetrics(
            job: job, round: round, participants: participants, updates: counted.count,
            examples: counted.values.reduce(0) { $0 + $1.examples }, rejected: rejected, accuracy: evaluation?.accuracy,
            loss: evaluation?.loss, bytesReceived: bytesReceived, durationSeconds: max(0, now - announcement.openedAt), deadlineExtensions: 0,
            modelSHA256: model.sha256, closedAt: now,
            epsilon: privacy?.epsilon ?? accountant.flatMap { accountant in policy.privacy.map { ModelRelease.epsilon(accountant, $0) } },
            delta: policy.privacy?.delta, threatModel: privacy?.threatModel, federated: federated)
        metrics.failure = failure
        metrics.accountant = accountant.flatMap { accountant in policy.privacy.map { ModelRelease.accountantName(accountant, $0) } }
        metrics.staleness = StalenessReport(staleness: counted.mapValues(\.staleness), weights: weights)
        buffer = [:]
        rejected = [:]
        bytesReceived = 0
        lastMetrics = metrics
        if let rounds = policy.rounds, round >= rounds {
            finished = true
            return [.checkpoint(checkpoint(), model: modelBytes), .publishModel(modelBytes), .publishMetrics(metrics), .finished]
        }
        announcement = Self.announce(job: job, round: round + 1, policy: policy, base: model.sha256, now: now)
        history.open(round: round + 1, baseSHA256: model.sha256, keep: settings.maxStaleness + 1)
        strategy.begin(global: model.parameters)
        return [.checkpoint(checkpoint(), model: modelBytes), .publishModel(modelBytes), .publishRound(announcement), .publishMetrics(metrics)]
    }
}
