import FedMQCore

/// Secure-aggregation rounds: the aggregator's side of `SecAggServer`'s stages, driven by
/// messages and ticks, ending in the round's new model (or a failed round).
extension AggregatorStateMachine {
    /// A secure-aggregation message arrived on `round/<round>/secagg/<stage>/<agent>`, with its
    /// `fedmq-signature` property (the agent's, over `SignedStatement.secAgg`).
    public mutating func receiveSecAgg(
        agent: String, round: Int, stage: SecAggStage, payload: [UInt8], signature: String?, now: Double
    ) -> [AggregatorAction] {
        bytesReceived += payload.count
        guard var server = secAgg, !finished else {
            return reject(Rejection(agent: agent, round: round, reason: .secureAggregation, detail: "no secure-aggregation round is open"))
        }
        guard let key = signers?[agent] else {
            return reject(Rejection(agent: agent, round: round, reason: .unknownSigner, detail: "no enrolled key"))
        }
        guard let signature,
            key.verifies(signature, for: SignedStatement.secAgg("\(stage.rawValue)/\(agent)", job: job, round: round, payload: payload))
        else {
            return reject(Rejection(agent: agent, round: round, reason: .badSignature, detail: "\(stage.rawValue) is not signed by this agent"))
        }
        guard round == server.round else {
            return reject(
                Rejection(
                    agent: agent, round: round, reason: round < server.round ? .closedRound : .wrongRound, detail: "round \(server.round) is open"))
        }
        do throws(ProtocolError) {
            switch stage {
            case .keys: try server.keysReceived(from: agent, ProtocolJSON.decode(SecAggKeys.self, from: payload))
            case .shares: try server.sharesReceived(from: agent, ProtocolJSON.decode(SecAggShares.self, from: payload))
            case .masked:
                try server.maskedReceived(
                    from: agent, ModelCodec.decodeMasked(payload, job: job, round: round, agent: agent, dimension: server.dimension))
            case .reveal: try server.revealReceived(from: agent, ProtocolJSON.decode(SecAggReveal.self, from: payload))
            }
        } catch {
            return reject(Rejection(agent: agent, round: round, reason: .secureAggregation, detail: "\(stage.rawValue): \(error)"))
        }
        secAgg = server
        return advanceSecureRound(now: now)
    }

    /// Starts the secure-aggregation stages of the round just announced (in secure mode).
    mutating func openSecureRound(now: Double) {
        guard let settings = policy.secureAggregation, !finished else { return }
        let cohort = Set(policy.allowedAgents ?? Array(signers?.keys ?? [:].keys))
        secAgg = SecAggServer(
            job: job, round: announcement.round, dimension: model.parameters.count, cohort: cohort, enrolled: signers,
            dropout: settings.dropoutRate, corruption: settings.corruptionRate, seed: UInt64.random(in: 0...UInt64.max, using: &random))
        stageDeadline = now + settings.stageSeconds
    }

    /// Ends every stage whose agents have all answered or whose deadline passed, publishing what
    /// the next stage needs; finishes the round once the sum can be unmasked.
    mutating func advanceSecureRound(now: Double) -> [AggregatorAction] {
        guard var server = secAgg, let settings = policy.secureAggregation else { return [] }
        var actions: [AggregatorAction] = []
        let round = server.round
        /// One message to each agent's inbox, retained until the next stage's deadline.
        func inbox<Message: Encodable>(_ kind: SecAggInboxKind, _ messages: [(agent: String, message: Message)]) -> [AggregatorAction] {
            stageDeadline = now + settings.stageSeconds
            return messages.map { agent, message in
                .publishSecAgg(
                    topic: topics.secAggInbox(kind, round: round, agent: agent), payload: ProtocolJSON.encode(message), kind: kind.rawValue,
                    round: round, expirySeconds: expiry())
            }
        }
        func expiry() -> UInt32 { MessageExpiry.seconds(until: stageDeadline, now: now) }
        do throws(ProtocolError) {
            while true {
                let due = now >= stageDeadline
                let answered = server.waitingFor.isEmpty
                switch server.stage {
                case .collectingKeys where answered || due:
                    actions += inbox(.roster, try server.closeKeys().map { ($0.agent, $0) })
                case .collectingShares where answered || due:
                    actions += inbox(.delivery, try server.closeShares().map { ($0.agent, $0) })
                case .collectingMasked where answered || due:
                    let unmask = try server.closeMasking()
                    stageDeadline = now + settings.stageSeconds
                    actions.append(
                        .publishSecAgg(
                            topic: topics.secAggUnmask(round: round), payload: ProtocolJSON.encode(unmask), kind: "unmask", round: round,
                            expirySeconds: expiry()))
                case .collectingReveals where server.canFinish && (answered || due):
                    let (sum, survivors) = try server.finish()
                    let mean = try settings.quantization.decodeMean(sum, count: survivors.count, like: model.parameters)
                    var parameters = model.parameters
                    do {
                        try parameters.add(mean)
                    } catch {
                        throw ProtocolError.core(error)
                    }
                    let report = SecAggRoundReport(
                        degree: server.graph?.degree ?? 0, threshold: server.graph?.threshold ?? 0, dropped: server.unmask?.dropped ?? [])
                    secAgg = nil
                    return actions
                        + conclude(
                            parameters, participants: Dictionary(uniqueKeysWithValues: survivors.map { ($0, 0) }), now: now, secure: report,
                            secureCohort: server.cohort.count)
                case .collectingReveals where due:
                    throw ProtocolError.secureAggregation("the reveal stage ended without t shares for every agent to unmask")
                default:
                    secAgg = server
                    return actions
                }
            }
        } catch {
            let report = SecAggRoundReport(
                degree: server.graph?.degree ?? 0, threshold: server.graph?.threshold ?? 0, dropped: server.unmask?.dropped ?? [],
                failure: "\(error)")
            secAgg = nil
            return actions + conclude(model.parameters, participants: [:], now: now, secure: report)
        }
    }

    /// Secure aggregation needs an enrolled fleet, and a quantization whose sum cannot wrap.
    func requireEnrolmentForSecureAggregation() throws(ProtocolError) {
        guard let settings = policy.secureAggregation else { return }
        guard let signers else {
            throw .invalidConfiguration("secure aggregation needs an enrolled fleet: every agent signs its keys (configure an enrolment)")
        }
        // The sum must not wrap for the largest cohort that can take part, noise included.
        let cohort = policy.allowedAgents?.count ?? signers.count
        let sigma = policy.privacy.map { SecAggNoise.agentSigma($0, settings, dimension: model.parameters.count) } ?? 0
        try settings.quantization.validate(cohort: cohort, noiseSigma: sigma)
    }
}
