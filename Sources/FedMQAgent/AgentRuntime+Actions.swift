import FedMQCore
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import FoundationEssentials
import Logging

/// Carrying out the state machine's actions: train, record, publish, log.
extension AgentRuntime {
    /// Carries out `actions` in order. An update and the status that follows it go to the broker
    /// together: one wake-up of the network thread and one wait for both acknowledgements. The
    /// broker takes one connection's packets in order, so the status never overtakes the update.
    func perform(
        _ actions: [AgentAction], client: any MQTTTransport, topics: Topics, data: Dataset?, holdout: Dataset?,
        trainer: ExternalTrainer?, events: AsyncStream<Event>.Continuation
    ) async throws {
        var index = actions.startIndex
        while index < actions.endIndex {
            if case .publishUpdate(let topic, let payload, let expiry, let signature) = actions[index], index + 1 < actions.endIndex,
                case .publishStatus(let status) = actions[index + 1]
            {
                try await client.publish([
                    Self.signedMessage(topic, payload: payload, expiry: expiry, signature: signature), statusMessage(status, topics: topics),
                ])
                updatePublished(topic: topic, bytes: payload.count)
                index += 2
            } else {
                try await perform(actions[index], client: client, topics: topics, data: data, holdout: holdout, trainer: trainer, events: events)
                index += 1
            }
        }
    }

    /// Whether carrying out `actions` may wait (for the broker's acknowledgement, or for an
    /// evaluation), which a shutdown must be able to cut short; the others are done at once.
    static func mayWait(_ actions: [AgentAction]) -> Bool {
        actions.contains {
            switch $0 {
            case .publishUpdate, .publishSecAgg, .publishStatus, .evaluate: true
            default: false
            }
        }
    }

    func perform(
        _ action: AgentAction, client: any MQTTTransport, topics: Topics, data: Dataset?, holdout: Dataset?, trainer: ExternalTrainer?,
        events: AsyncStream<Event>.Continuation
    ) async throws {
        switch action {
        case .train(let round, let base, let training):
            trace.mark("training_started")
            logger.info("training", metadata: ["round": "\(round)", "epochs": "\(training.epochs)"])
            // The shared benchmark task's shuffle seed: agent k with seed k reproduces it exactly.
            let seed = UInt64(1000 * round) &+ config.seed
            if trainer != nil, training.dpSGD != nil {
                // The ledger would charge DP-SGD that nobody can tell the program ran.
                events.yield(
                    .externallyTrained(
                        round: round,
                        .failure(
                            .init("the round asks for DP-SGD, which only FedMQ's own trainer runs; an external trainer sits it out"))))
            } else if let trainer {
                Task.detached { [evaluationOrder] in
                    await evaluationOrder.finished()
                    events.yield(.externallyTrained(round: round, await trainer.train(round: round, base: base, training: training, seed: seed)))
                }
            } else if let data {
                Task.detached { [train = self.training, evaluationOrder] in
                    await evaluationOrder.finished()
                    events.yield(.trained(round: round, await train(base, training, data, seed), examples: data.count))
                }
            }
        case .computeStatistics(let round, let base, let analytics):
            logger.info("answering analytics queries", metadata: ["round": "\(round)", "queries": "\(analytics.queries.count)"])
            // Every local record counts, held-out ones included.
            let records = holdout.flatMap { held in try? data?.appending(held) } ?? data
            let answer = Self.statistics(analytics, base: base, data: records, labelName: config.dataLabel)
            events.yield(.trained(round: round, answer.map(\.parameters), examples: (try? answer.get().records) ?? 1))
        case .recordServed(let round, let event, let update, let residual):
            // Record, update and residual in one durable write: the record never names a missing
            // update, and a residual is never from a round the record does not count as served.
            var state = try self.state.load()
            state.lastUpdate = update.payload
            if let residual {
                state.residual = SafetensorsEncoder.encode(
                    residual, metadata: [ModelCodec.Key.job: config.job, ModelCodec.Key.round: "\(round)"])
            }
            state.record.lastServedRound = round
            state.record.lastUpdateSignature = update.signature
            state.record.lastUpdatePublishedDuring = update.publishedDuring
            if let event { state.record.ledger = PrivacyLedger.charging(event, to: state.record.ledger) }
            // The state machine counts this publish in its pacing; a restart must count it too.
            var pacing = config.pacing(recent: state.record.publishTimes)
            pacing.record(clock.now())
            state.record.publishTimes = pacing.recent
            try self.state.save(state)
            trace.mark("record_written")
        case .publishUpdate(let topic, let payload, let expiry, let signature):
            try await client.publish(
                topic, payload: payload, qos: .atLeastOnce, retain: false, messageExpiry: expiry, userProperties: Self.signatureProperty(signature))
            updatePublished(topic: topic, bytes: payload.count)
        case .publishSecAgg(let topic, let payload, let expiry, let signature):
            try await client.publish(
                topic, payload: payload, qos: .atLeastOnce, retain: false, messageExpiry: expiry, userProperties: Self.signatureProperty(signature))
            logger.info("secure aggregation: published", metadata: ["topic": "\(topic)", "bytes": "\(payload.count)"])
        case .evaluate(let base, let training):
            guard base.spec.isNative else {
                logger.debug("the job asks for federated evaluation; FedMQ cannot evaluate a \(base.spec.kind.rawValue) model on the device")
                return
            }
            guard let holdout, let data else {
                logger.debug("the job asks for federated evaluation; this agent holds out no data (holdout_fraction 0)")
                return
            }
            await evaluationOrder.evaluate { [config, logger] in
                let (evaluation, warning) = Self.evaluate(base, training: training, train: data, holdout: holdout, config: config)
                if let warning { logger.warning("\(warning)") }
                if let evaluation { events.yield(.evaluated(evaluation)) }
            }
        case .publishStatus(let status):
            try await publish(status, client: client, topics: topics)
        case .refused(let round, let reason):
            logger.warning("round \(round) refused: \(reason)")
        case .warning(let text):
            logger.warning("\(text)")
        case .ignored(let reason):
            logger.debug("\(reason)")
        }
    }

    func publish(_ status: AgentStatus, client: any MQTTTransport, topics: Topics) async throws {
        let message = statusMessage(status, topics: topics)
        try await client.publish(message.topic, payload: message.payload, qos: message.qos, retain: message.retain)
    }

    /// Marks and logs an update the broker acknowledged.
    private func updatePublished(topic: String, bytes: Int) {
        trace.mark("update_published")
        logger.info("published update", metadata: ["topic": "\(topic)", "bytes": "\(bytes)"])
    }

    /// The agent's status, retained on its status topic.
    private func statusMessage(_ status: AgentStatus, topics: Topics) -> MQTTMessage {
        MQTTMessage(topic: topics.status(agent: config.agent), payload: ProtocolJSON.encode(status), qos: .atLeastOnce, retain: true)
    }

    /// An update at QoS 1, with its expiry and, if the agent signs, the signed statement as a
    /// user property.
    private static func signedMessage(_ topic: String, payload: [UInt8], expiry: UInt32, signature: String?) -> MQTTMessage {
        MQTTMessage(
            topic: topic, payload: payload, qos: .atLeastOnce, retain: false,
            properties: MessageProperties(messageExpiry: expiry, userProperties: signatureProperty(signature)))
    }

    /// The user property that carries a signed statement, if the agent signs.
    private static func signatureProperty(_ signature: String?) -> [UserProperty] {
        signature.map { [UserProperty(SignedStatement.property, $0)] } ?? []
    }
}
