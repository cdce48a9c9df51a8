import FedMQCore

/// Closing a round: the new model (or a failed round that keeps the old one), its privacy, the
/// metrics, the checkpoint, and the next round.
extension AggregatorStateMachine {
    /// Closes the round with its aggregate; a strategy that cannot aggregate fails the round
    /// (model kept, metrics say why) instead of leaving it open for good.
    mutating func close(now: Double) -> [AggregatorAction] {
        do {
            return conclude(try strategy.finish(), participants: accepted, now: now)
        } catch {
            return conclude(model.parameters, participants: accepted, now: now, failure: "the strategy could not aggregate: \(error)")
        }
    }

    /// Publishes the round's new model and metrics and opens the next round (or finishes).
    mutating func conclude(
        _ newParameters: Parameters, participants: [String: Int], now: Double, secure: SecAggRoundReport? = nil, secureCohort: Int = 0,
        failure known: String? = nil
    ) -> [AggregatorAction] {
        var parameters = newParameters
        let round = announcement.round
        // The agents' verdict on the model this round started from (the one being replaced).
        let federated = evaluations.take(modelRound: model.round, anomalyQuantile: model.spec.anomalyThresholdQuantile)
        var failure = known ?? secure?.failure
        let sites = siteReport(participants)
        var privacy: (epsilon: Double, threatModel: String)?
        if failure == nil {
            let accountantBefore = accountant
            do {
                privacy = try account(&parameters, updates: sites.updates, secureCohort: secure == nil ? nil : secureCohort)
            } catch {
                // Noise fails closed: a model that did not get its noise is not published.
                failure = "the aggregator's noise failed (\(error)); the model is kept"
            }
            // One update near the edge of Float's range (or a huge example count) could make the
            // aggregate infinite; such a model is never published or checkpointed, so nothing
            // was released and nothing is charged.
            if failure == nil && !parameters.allFinite {
                failure = "the aggregate is not finite (an update of extreme values); the model is kept"
            }
            if failure != nil {
                privacy = nil
                accountant = accountantBefore
            }
        }
        let failed = failure != nil
        let base = model.parameters
        let bytes = failed ? modelBytes : ModelCodec.encodeModel(parameters, spec: model.spec, job: job, round: round)
        if !failed {
            model = GlobalModel(job: job, round: round, spec: model.spec, parameters: parameters, sha256: ModelCodec.sha256(bytes))
            modelBytes = bytes
        }
        let evaluation = failed ? nil : evaluator?(parameters)
        var metrics = RoundMetrics(
            job: job, round: round, participants: participants.keys.sorted(), updates: sites.updates,
            examples: participants.values.reduce(0, +), rejected: rejected, accuracy: evaluation?.accuracy, loss: evaluation?.loss,
            bytesReceived: bytesReceived, durationSeconds: max(0, now - announcement.openedAt),
            deadlineExtensions: announcement.extensions, modelSHA256: model.sha256, closedAt: now,
            epsilon: privacy?.epsilon ?? accountant.flatMap { accountant in policy.privacy.map { ModelRelease.epsilon(accountant, $0) } },
            delta: policy.privacy?.delta,
            threatModel: privacy?.threatModel, federated: federated)
        metrics.secureAggregation = secure
        (metrics.siteUpdates, metrics.missingSites) = (sites.siteUpdates, sites.missingSites)
        metrics.noiseAddedBy = noiseAddedBy
        if !failed, let analytics = policy.analytics {
            metrics.analytics = Self.answers(analytics, base: base, aggregate: parameters, updates: participants.count)
        }
        metrics.failure = failure
        metrics.accountant = accountant.flatMap { accountant in policy.privacy.map { ModelRelease.accountantName(accountant, $0) } }
        if let selected = announcement.selected {
            metrics.selected = selected
            metrics.stragglers = selected.filter { participants[$0] == nil }
        }
        accepted = [:]
        partialUpdates = [:]
        rejected = [:]
        bytesReceived = 0
        lastMetrics = metrics
        if let rounds = policy.rounds, round >= rounds {
            finished = true
            secAgg = nil
            homomorphic = nil
            return [.checkpoint(checkpoint(), model: bytes), .publishModel(bytes), .publishMetrics(metrics), .finished]
        }
        announcement = Self.announce(job: job, round: round + 1, policy: policy, base: model.sha256, now: now)
        if let selection = policy.selection {
            announcement.selected = selection.pick(from: agents.candidates, round: round + 1, minimum: policy.minUpdates)
        }
        strategy.begin(global: model.parameters)
        openSecureRound(now: now)
        openHomomorphicRound()
        return [.checkpoint(checkpoint(), model: bytes), .publishModel(bytes), .publishRound(announcement), .publishMetrics(metrics)]
    }

    static func announce(job: String, round: Int, policy: RoundPolicy, base: String, now: Double) -> RoundAnnouncement {
        // A secure round's four stages each have their own deadline; the round's covers them all.
        let seconds = max(policy.roundSeconds, 4 * (policy.secureAggregation?.stageSeconds ?? 0))
        var announcement = RoundAnnouncement(
            job: job, round: round, openedAt: now, deadline: now + seconds, targetUpdates: policy.targetUpdates,
            minUpdates: policy.minUpdates, extensions: 0, baseModelSHA256: base, training: policy.training,
            maxUpdateBytes: policy.maxUpdateBytes, normBound: policy.normBound, encoding: policy.encoding,
            privacy: policy.privacy, evaluateEvery: policy.evaluateEvery, secureAggregation: policy.secureAggregation)
        announcement.rounds = policy.rounds
        announcement.homomorphic = policy.homomorphic
        announcement.analytics = policy.analytics
        announcement.sparseBitmaps = true
        if let sites = policy.sites {
            (announcement.sites, announcement.weighting) = (sites, policy.weighting)
            if policy.ingestShards { announcement.ingestShards = true }
        }
        return announcement
    }
}
