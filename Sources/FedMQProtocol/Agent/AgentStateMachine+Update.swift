import FedMQCore

/// From a trained model to the update on the wire: the delta against the model training
/// started from, clipping and privacy noise, encoding (whole or top-k), the served record,
/// and the publish.
extension AgentStateMachine {
    /// Local training of `roundNumber` ended with `trained` parameters on `examples` rows.
    public mutating func trainingFinished(
        round roundNumber: Int, trained: Parameters, examples: Int, now: Double, roundingSeed: UInt64? = nil
    ) -> [AgentAction] {
        guard trainingRound == roundNumber, let round = trainingAnnouncement, let model = trainingBase else {
            return [.ignored("training result for round \(roundNumber) was not asked for")]
        }
        trainingRound = nil
        trainingAnnouncement = nil
        trainingBase = nil
        guard let current = self.round, current.accepts(round: roundNumber, now: now) else {
            return [.ignored("round \(roundNumber) closed while training"), .publishStatus(status(now: now))] + startIfReady(now: now)
        }
        var delta = trained
        do {
            try delta.subtract(model.parameters)
        } catch {
            return fail(roundNumber, "the trained model does not fit the global model: \(error)", now: now)
        }
        guard delta.allFinite else {
            return fail(roundNumber, "training diverged (NaN or infinity)", now: now)
        }
        let spent = PrivacyLedger.events(for: round)
        let event: DPEvent? = spent.isEmpty ? nil : (spent.count == 1 ? spent[0] : .composed(spent))
        // An analytics vector is bounded by its queries; the privacy noise is sized for their sensitivity.
        let contribution = round.analytics?.contributionBound
        do throws(CoreError) {
            if let privacy = round.privacy {
                // Clip and noise on the device, before anything is encoded or published. Under secure
                // aggregation the noise goes onto the quantized update instead.
                if round.secureAggregation != nil {
                    delta.clip(norm: contribution ?? privacy.clipNorm)
                } else {
                    try privacy.privatize(&delta, contributionBound: contribution, using: &random)
                }
            } else if let bound = round.normBound ?? contribution {
                delta.clip(norm: bound)
            }
        } catch {
            // Noise fails closed: nothing leaves the device without it.
            return fail(roundNumber, "could not add the privacy noise: \(error)", now: now)
        }
        if let settings = round.secureAggregation {
            guard secure?.round == roundNumber else {
                return [.ignored("round \(roundNumber): dropped out of secure aggregation"), .publishStatus(status(now: now))]
            }
            var words = settings.quantization.encode(delta, using: &random)
            if let privacy = round.privacy {
                do {
                    try SecAggNoise.add(to: &words, privacy, settings, using: &random)
                } catch {
                    secure = nil
                    return fail(roundNumber, "could not add the privacy noise: \(error)", now: now)
                }
            }
            secureInput = (words, event)
            return secure?.stage == .delivered
                ? maskedUpdate(now: now) : [.ignored("round \(roundNumber): the masked update waits for the neighbours' shares")]
        }
        let encoded: (payload: [UInt8], feedback: ErrorFeedback?, note: String?)
        do {
            encoded = try encode(delta, round: round, examples: examples, baseSHA256: model.sha256, roundingSeed: roundingSeed)
        } catch {
            return fail(roundNumber, "could not encode the update: \(error)", now: now)
        }
        let payload = encoded.payload
        guard payload.count <= round.maxUpdateBytes else {
            return fail(roundNumber, "the update of \(payload.count) bytes exceeds the round's limit of \(round.maxUpdateBytes)", now: now)
        }
        if let feedback = encoded.feedback { errorFeedback = feedback }
        let notes = encoded.note.map { [AgentAction.ignored($0)] } ?? []
        lastServedRound = roundNumber
        if let event { ledger = PrivacyLedger.charging(event, to: ledger) }
        let expiry = current.updateExpirySeconds(now: now)
        let signature = identity?.sign(
            SignedStatement.update(job: topics.job, round: roundNumber, baseSHA256: model.sha256, agent: agent, payload: payload))
        if current.asynchronous != nil { publishedDuring = current.round }
        let sent = SentUpdate(round: roundNumber, payload: payload, signature: signature, publishedDuring: publishedDuring)
        lastUpdate = sent
        lastError = nil
        pacing.record(now)
        return notes + [
            .recordServed(round: roundNumber, event: event, update: sent, residual: encoded.feedback?.residual),
            .publishUpdate(topic: topics.update(round: roundNumber, agent: agent), payload: payload, expirySeconds: expiry, signature: signature),
            .publishStatus(status(now: now)),
        ]
    }

    /// The update's payload: whole, or top-k with error feedback when the agent is set to it
    /// (returning the feedback state to keep once the update is sent, and a note when top-k
    /// is off for this round).
    private mutating func encode(
        _ delta: Parameters, round: RoundAnnouncement, examples: Int, baseSHA256: String, roundingSeed: UInt64?
    ) throws(ProtocolError) -> (payload: [UInt8], feedback: ErrorFeedback?, note: String?) {
        func dense() -> [UInt8] {
            ModelCodec.encodeUpdate(
                delta, encoding: round.encoding, job: topics.job, round: round.round, agent: agent, baseSHA256: baseSHA256,
                examples: examples, stochasticRoundingSeed: roundingSeed)
        }
        if let settings = round.homomorphic {
            return (try encrypted(delta, settings, round: round, examples: examples, baseSHA256: baseSHA256), nil, nil)
        }
        // Every entry of an analytics vector is part of an answer: it is never sparsified.
        guard var feedback = errorFeedback, round.analytics == nil else { return (dense(), nil, nil) }
        if round.privacy?.mode == .distributed {
            // Every agent's noise share must reach every entry of the sum; a sparse update would not carry it.
            return (dense(), nil, "round \(round.round): top-k is off under distributed privacy; sending the whole update")
        }
        let payload = try feedback.compress(delta, bound: sentNormBound(round, dimension: delta.count)) { kept in
            ModelCodec.encodeUpdate(
                sparse: kept, encoding: round.encoding, job: topics.job, round: round.round, agent: agent, baseSHA256: baseSHA256,
                examples: examples, stochasticRoundingSeed: roundingSeed, bitmaps: round.sparseBitmaps == true)
        }
        return (payload, feedback, nil)
    }

    /// The largest L2 norm a sparse update may have: what the aggregator accepts from a dense
    /// one (the clip norm under central privacy, the clip norm plus the agent's noise under
    /// local privacy, or the round's norm bound).
    private func sentNormBound(_ round: RoundAnnouncement, dimension: Int) -> Double? {
        guard let privacy = round.privacy else { return round.normBound }
        return privacy.acceptableNorm(dimension: dimension)
    }

    /// Local training failed (bad data, for example).
    public mutating func trainingFailed(round roundNumber: Int, reason: String, now: Double) -> [AgentAction] {
        guard trainingRound == roundNumber else { return [] }
        let work = trainingAnnouncement?.analytics == nil ? "training" : "answering the analytics queries"
        trainingRound = nil
        trainingAnnouncement = nil
        trainingBase = nil
        // Bad local data (a wrong feature count, a label out of range) is the owner's to fix: a warning, not a debug line.
        return fail(roundNumber, "\(work) failed: \(reason)", now: now)
    }
}
