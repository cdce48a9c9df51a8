import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation

/// Carrying out the state machine's actions: spool, checkpoint, publish, log.
extension AggregatorRuntime {
    func perform(
        _ actions: [AggregatorAction], publisher: Publisher, topics: Topics, store: AggregatorStore, identity: SigningKey?
    ) async throws {
        /// The `fedmq-signature` property of what the aggregator publishes, when it has a key.
        // The statement (a hash of the payload) is only made when there is a key to sign it.
        func signed(_ statement: @autoclosure () -> [UInt8]) -> [UserProperty] {
            identity.map { [UserProperty(SignedStatement.property, $0.sign(statement()))] } ?? []
        }
        var batch = SpoolBatch(store.spool, fsyncsBatches: !config.policy.agentsResendLostUpdates)
        var skipNext = false
        // The round of the last checkpoint written: the other rounds' spools go once the new
        // round is out, off the path from the last update to the next round.
        var checkpointedRound: Int?
        for (index, action) in actions.enumerated() {
            if skipNext {
                skipNext = false
                continue
            }
            switch action {
            case .spool: break
            case .checkpoint(let checkpoint, _): try batch.settle(beforeCheckpointOf: checkpoint.announcement.round)
            default: try batch.sync()
            }
            switch action {
            case .spool(let round, let agent, let payload, let signature):
                try batch.append(round: round, agent: agent, payload: payload, signature: signature)
                metrics.accepted()
                logger.info("accepted update", metadata: ["round": "\(round)", "agent": "\(agent)", "bytes": "\(payload.count)"])
            case .checkpoint(let checkpoint, let model):
                try store.save(checkpoint, model: model)
                checkpointedRound = checkpoint.announcement.round
                trace.mark("checkpoint_written")
            case .publishModel(let bytes):
                let model = MQTTMessage(
                    topic: topics.globalModel, payload: bytes, qos: .atLeastOnce, retain: true,
                    properties: .init(userProperties: signed(SignedStatement.model(job: config.job, payload: bytes))))
                // The round that follows its model goes out with it: one wait for the broker's
                // acknowledgements instead of two. The broker keeps their order.
                if index + 1 < actions.count, case .publishRound(let announcement) = actions[index + 1] {
                    trace.mark("model_published")
                    trace.mark("round_opened", "\(announcement.round)")
                    try await publisher.publish([model, roundMessage(announcement, topics: topics, signed: signed)])
                    logRoundOpen(announcement)
                    skipNext = true
                } else {
                    try await publisher.publish([model])
                    trace.mark("model_published")
                }
            case .publishRound(let announcement):
                trace.mark("round_opened", "\(announcement.round)")
                try await publisher.publish([roundMessage(announcement, topics: topics, signed: signed)])
                logRoundOpen(announcement)
            case .publishMetrics(let metrics):
                self.metrics.closed(metrics)
                let line = ProtocolJSON.encode(metrics)
                try store.appendMetrics(line: line)
                try await publisher.publish(topics.metrics, payload: line, retain: true)
                trace.mark("metrics_published")
                logger.notice(
                    "round closed",
                    metadata: [
                        "round": "\(metrics.round)", "updates": "\(metrics.updates)", "rejected": "\(metrics.rejected.values.reduce(0, +))",
                        "accuracy": "\(metrics.accuracy.map { String(format: "%.4f", $0) } ?? "-")",
                        "loss": "\(metrics.loss.map { String(format: "%.4f", $0) } ?? "-")",
                    ])
                for answer in metrics.analytics ?? [] { logger.notice("analytics: \(answer)", metadata: ["round": "\(metrics.round)"]) }
            case .publishSecAgg(let topic, let payload, let kind, let round, let expiry):
                try await publisher.publish(
                    topic, payload: payload, retain: true, messageExpiry: expiry,
                    userProperties: signed(SignedStatement.secAgg(kind, job: config.job, round: round, payload: payload)))
                logger.info("secure aggregation: sent \(kind)", metadata: ["round": "\(round)", "topic": "\(topic)"])
            case .requestDecryption(let round, let payload, let updates, let expiry):
                try await publisher.publish(
                    topics.decryptionRequest(round: round), payload: payload, retain: true, messageExpiry: expiry,
                    userProperties: signed(SignedStatement.homomorphic("he-request", job: config.job, round: round, payload: payload)))
                logger.info("homomorphic aggregation: asked the key holder to decrypt", metadata: ["round": "\(round)", "updates": "\(updates)"])
            case .homomorphicIgnored(let round, let reason):
                logger.warning("homomorphic aggregation: ignored \(reason)", metadata: ["round": "\(round)"])
            case .rejected(let rejection):
                metrics.rejected(rejection.reason)
                logger.warning(
                    "rejected update: \(rejection.detail)",
                    metadata: ["round": "\(rejection.round)", "agent": "\(rejection.agent)", "reason": "\(rejection.reason.rawValue)"])
            case .statusIgnored(let agent, let reason):
                logger.warning("ignored status: \(reason)", metadata: ["agent": "\(agent)"])
            case .evaluationIgnored(let agent, let round, let reason):
                logger.info("ignored evaluation: \(reason)", metadata: ["round": "\(round)", "agent": "\(agent)"])
            case .extended(let round, let accepted, let deadline):
                logger.notice(
                    "deadline extended: too few updates",
                    metadata: ["round": "\(round)", "accepted": "\(accepted)", "deadline_in_s": "\(Int(deadline - clock.now()))"])
            case .finished:
                logger.notice("all \(config.policy.rounds ?? 0) rounds done")
            }
        }
        try batch.sync()
        if let checkpointedRound { store.spool.removeAll(but: checkpointedRound) }
    }

    /// The retained round announcement, signed when the aggregator has a key.
    private func roundMessage(_ announcement: RoundAnnouncement, topics: Topics, signed: (@autoclosure () -> [UInt8]) -> [UserProperty])
        -> MQTTMessage
    {
        let payload = ProtocolJSON.encode(announcement)
        return MQTTMessage(
            topic: topics.globalRound, payload: payload, qos: .atLeastOnce, retain: true,
            properties: .init(userProperties: signed(SignedStatement.announcement(job: config.job, payload: payload))))
    }

    private func logRoundOpen(_ announcement: RoundAnnouncement) {
        logger.info(
            "round open",
            metadata: [
                "round": "\(announcement.round)", "target": "\(announcement.targetUpdates)",
                "deadline_in_s": "\(Int(announcement.deadline - clock.now()))",
            ])
    }

    func publishStatus(_ publisher: Publisher, _ topics: Topics, _ state: AggregatorStatus.State, round: Int) async throws {
        let status = AggregatorStatus(job: config.job, state: state, round: round, time: clock.now())
        try await publisher.publish(topics.aggregatorStatus, payload: ProtocolJSON.encode(status), retain: true)
    }
}
