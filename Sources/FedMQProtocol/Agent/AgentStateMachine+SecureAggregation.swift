import FedMQCore

/// Secure-aggregation rounds on the agent's side: its `SecAggClient` driven by the aggregator's
/// signed roster, share delivery and unmask request, ending in the masked update.
extension AgentStateMachine {
    /// A message from the aggregator in a secure round: this agent's roster or share delivery
    /// (`round/<r>/secagg/inbox/<agent>/<kind>`) or the round's unmask request, with the
    /// aggregator's `fedmq-signature`. A message that fails a check drops this agent out of the round.
    public mutating func secAggReceived(kind: String, round roundNumber: Int, payload: [UInt8], signature: String?, now: Double) -> [AgentAction] {
        guard var client = secure, client.round == roundNumber else {
            return [.ignored("secure-aggregation \(kind) for round \(roundNumber): this agent is not taking part")]
        }
        // `secure` exists only with an aggregator key (see `startIfReady`), so this refuses anything unsigned.
        if let refusal = unsigned(
            signature, SignedStatement.secAgg(kind, job: topics.job, round: roundNumber, payload: payload), what: "secure-aggregation \(kind)")
        {
            return [.ignored(refusal)]
        }
        // Only a verified message counts as handled: an unsigned copy never suppresses the signed one.
        guard handledSecAgg.insert(ModelCodec.sha256(payload)).inserted else { return [] }
        guard let settings = secureSettings, let enrolment else {
            return [.ignored("secure-aggregation \(kind) for round \(roundNumber): the round's settings or the enrolment are missing")]
        }
        do throws(ProtocolError) {
            switch kind {
            case SecAggInboxKind.roster.rawValue:
                let shares = try client.rosterReceived(
                    ProtocolJSON.decode(SecAggRoster.self, from: payload),
                    requirements: privacyPolicy.secureRequirements(settings, enrolled: enrolment),
                    using: &random)
                secure = client
                return [secAggMessage(.shares, round: roundNumber, payload: ProtocolJSON.encode(shares), now: now)]
            case SecAggInboxKind.delivery.rawValue:
                try client.deliveryReceived(ProtocolJSON.decode(SecAggShareDelivery.self, from: payload))
                secure = client
                // A neighbour whose share did not open is set aside, not hidden: the log names it.
                let setAside = client.faultyPeers.keys.sorted().map {
                    AgentAction.ignored("round \(roundNumber): the share of \($0) is set aside: \(client.faultyPeers[$0] ?? "")")
                }
                return setAside + (secureInput == nil ? [] : maskedUpdate(now: now))
            case "unmask":
                let reveal = try client.reveal(ProtocolJSON.decode(SecAggUnmask.self, from: payload))
                secure = client
                return [secAggMessage(.reveal, round: roundNumber, payload: ProtocolJSON.encode(reveal), now: now)]
            default:
                return [.ignored("unknown secure-aggregation message '\(kind)'")]
            }
        } catch {
            secure = nil
            secureInput = nil
            return fail(roundNumber, "dropping out of secure aggregation: \(error)", now: now)
        }
    }

    /// The masked update, once both the quantized update and the neighbours' shares are here.
    mutating func maskedUpdate(now: Double) -> [AgentAction] {
        guard var client = secure, let input = secureInput else { return [] }
        let roundNumber = client.round
        let words: [UInt32]
        do {
            words = try client.maskedInput(input.words)
        } catch {
            secure = nil
            return [.ignored("round \(roundNumber): \(error)")]
        }
        secure = client
        secureInput = nil
        let payload = ModelCodec.encodeMasked(words, job: topics.job, round: roundNumber, agent: agent)
        lastServedRound = roundNumber
        lastError = nil
        if let event = input.event { ledger = PrivacyLedger.charging(event, to: ledger) }
        return [
            .recordServed(
                round: roundNumber, event: input.event, update: SentUpdate(round: roundNumber, payload: payload, signature: nil), residual: nil),
            secAggMessage(.masked, round: roundNumber, payload: payload, now: now),
            .publishStatus(status(now: now)),
        ]
    }

    func secAggMessage(_ stage: SecAggStage, round roundNumber: Int, payload: [UInt8], now: Double) -> AgentAction {
        let deadline = round?.deadline ?? now
        return .publishSecAgg(
            topic: topics.secAgg(stage, round: roundNumber, agent: agent), payload: payload,
            expirySeconds: MessageExpiry.seconds(until: deadline, now: now),
            signature: identity?.sign(SignedStatement.secAgg("\(stage.rawValue)/\(agent)", job: topics.job, round: roundNumber, payload: payload)))
    }
}
