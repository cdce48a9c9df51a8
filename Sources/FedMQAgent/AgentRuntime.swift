import FedMQCore
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import FoundationEssentials
import Logging
import ServiceLifecycle

/// `fedmq-agent`: trains on local data when a round opens and publishes its update. The
/// state machine decides; this type carries out its actions and runs the training.
///
/// A service: it runs until its task is cancelled or its service group shuts down
/// gracefully (it then publishes an offline status first). Its transport and clock are
/// handed in, so tests drive it through an `InMemoryBroker` and a clock they move.
public struct AgentRuntime: Service {
    /// Local training: from the base model, with the round's settings, on the local data, with
    /// the round's shuffle seed, to the trained parameters.
    /// Asynchronous, so a simulated device can take its time without holding a thread.
    public typealias Training = @Sendable (GlobalModel, TrainingConfig, Dataset, UInt64) async -> Result<Parameters, CoreError>

    public let config: AgentConfig
    /// How often the agent looks at the time (to say it still waits for its job's model).
    static let tickInterval = 10.0
    let logger: Logger
    let training: Training
    /// Trains only after the evaluation that came before it has reported.
    let evaluationOrder = EvaluationOrder()
    let connector: any MQTTConnector
    let clock: any RuntimeClock
    let state: AgentStateFile
    /// Stage marks for `make bench-round` (off unless `FEDMQ_TRACE` is set).
    let trace: StageTrace
    let onStarted: @Sendable () -> Void

    /// - Parameters:
    ///   - training: the real trainer unless given (`fedmq simulate` passes a no-op to
    ///     measure the protocol alone).
    ///   - connector: the broker connection; libmosquitto unless given.
    ///   - clock: the wall clock unless given.
    ///   - onStarted: called once the runtime has connected and made its first subscriptions and
    ///     publishes (the daemons release their start-up pages then).
    public init(
        config: AgentConfig, logger: Logger, training: Training? = nil, connector: any MQTTConnector = NetworkConnector(),
        clock: any RuntimeClock = WallClock(), onStarted: @escaping @Sendable () -> Void = {}
    ) {
        self.onStarted = onStarted
        self.config = config
        self.training = training ?? { Self.train(base: $0, config: $1, data: $2, seed: $3) }
        self.connector = connector
        self.clock = clock
        state = AgentStateFile(directory: config.stateDirectory, job: config.job)
        trace = StageTrace(process: config.agent)
        var logger = logger
        logger[metadataKey: "job"] = "\(config.job)"
        logger[metadataKey: "agent"] = "\(config.agent)"
        self.logger = logger
    }

    enum Event: Sendable {
        case message(MQTTMessage)
        case trained(round: Int, Result<Parameters, CoreError>, examples: Int)
        case externallyTrained(round: Int, Result<ExternalTrainer.Output, ExternalTrainer.Failure>)
        case evaluated(AgentEvaluation)
        /// The round in training has trained for `training_status_after_seconds`.
        case trainingStatusDue(round: Int)
        case tick
        case shutdown
    }

    /// Runs until a graceful shutdown or until the calling task is cancelled.
    public func run() async throws {
        try config.validate()
        reportFileSizeLimitAsError()
        try DurableFile.createDirectory(config.stateDirectory)
        let local = config.dataCSV.isEmpty ? nil : try Self.readData(config)
        // Held-out rows for federated evaluation never reach training.
        let (data, holdout): (Dataset?, Dataset?) =
            if let local, config.holdoutFraction > 0 {
                try DataSplit.trainTest(local, testFraction: config.holdoutFraction, classes: nil, seed: config.seed)
            } else {
                (local, nil)
            }
        // Said once, at the first round of a model without feature scaling.
        var unscaledWarning = data.flatMap { FeatureScaling.unscaledWarning($0) }
        let trainer = config.trainer.map {
            ExternalTrainer(
                trainer: $0, directory: config.stateDirectory + "/trainer", job: config.job, agent: config.agent,
                dataCSV: config.dataCSV.isEmpty ? nil : config.dataCSV)
        }
        let state = try self.state.load()
        let record = state.record
        let enrolment = try config.enrolment.map { try IdentityFiles.enrolment(at: $0) }
        var machine = try AgentStateMachine(
            agent: config.agent, job: config.job, lastServedRound: record.lastServedRound, ledger: record.ledger,
            budget: config.privacyBudget, privacyPolicy: config.privacyPolicy, identity: try config.identityKey.map(IdentityFiles.signingKey(at:)),
            aggregatorKey: try config.aggregatorKey.map { try IdentityFiles.verifyingKey($0, field: "aggregator_key") },
            enrolment: enrolment?.agents, keyholder: enrolment?.keyholder, lastUpdate: Self.lastUpdate(state),
            errorFeedback: try config.topKFraction.map { try ErrorFeedback(fraction: $0, residual: residual(state)) },
            pacing: config.pacing(recent: record.publishTimes), random: KernelRandom())
        let topics = machine.topics
        if let trainer {
            logger.notice("training with \(trainer.trainer.command.joined(separator: " ")) (at most \(trainer.trainer.timeoutSeconds) s a round)")
        }
        logger.notice(
            "\(data.map { "\($0.count)" } ?? "no") local examples for FedMQ's trainer, \(holdout?.count ?? 0) held out; last served round \(machine.lastServedRound)"
        )
        if let feedback = machine.errorFeedback {
            let held = feedback.residual.map { "a residual of L2 norm \($0.l2Norm) held back" } ?? "nothing held back yet"
            logger.notice("sending the top \(feedback.fraction * 100)% of each tensor (error feedback); \(held)")
        }

        let offline = AgentStatus(agent: config.agent, state: .offline, lastRound: machine.lastServedRound, time: nil)
        let will = LastWill(topic: topics.status(agent: config.agent), payload: ProtocolJSON.encode(offline), qos: .atLeastOnce, retain: true)
        let client = try connector.transport(options: config.broker.connectionOptions(clientID: config.agent, will: will))
        // The stream exists before the task runs, so the first connection attempts are not missed.
        let connectionEvents = client.connectionEvents()
        let connectionLog = Task { [logger, clock, agent = config.agent] in
            var log = ConnectionLog(clientID: agent, logger: logger)
            for await event in connectionEvents { log.record(event, now: clock.now()) }
        }
        defer { connectionLog.cancel() }
        let firstTick = clock.now()
        // The wait for the job's model and round starts now (nothing to say yet: said after a minute).
        _ = machine.tick(now: firstTick)
        let startStatus = machine.status(now: firstTick)
        // Messages go straight from the transport into the event loop's stream.
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        let started: MQTTSubscription?
        do {
            started = try await untilShutdown { [config] in
                try await client.connect()
                // The key holder's public key only when the enrolment names a key holder (homomorphic jobs).
                let keyTopic = enrolment?.keyholder == nil ? [] : [topics.homomorphicKey]
                let inbox = try await client.subscribe(
                    to: [
                        topics.globalModel, topics.globalRound, topics.secAggInbox(agent: config.agent), topics.allSecAggUnmasks,
                        topics.allSiteReceipts,
                    ]
                        + keyTopic,
                    qos: .atLeastOnce, deliver: { continuation.yield(.message($0)) })
                try await publish(startStatus, client: client, topics: topics)
                return inbox
            }
        } catch {
            await client.disconnect()
            throw error
        }
        guard let inbox = started else {
            logger.notice("shutting down before the broker answered")
            await client.disconnect()
            return
        }
        onStarted()

        let ticker = Task { [clock] in
            await clock.ticks(every: Self.tickInterval, from: firstTick) { continuation.yield(.tick) }
        }
        let statusTimer = TrainingStatusTimer(delay: config.trainingStatusAfterSeconds, clock: clock) {
            continuation.yield(.trainingStatusDue(round: $0))
        }
        defer {
            ticker.cancel()
            statusTimer.cancel()
        }
        var shutDown = false
        do {
            try await withGracefulShutdownHandler {
                eventLoop: for await event in events {
                    let now = clock.now()
                    var actions: [AgentAction]
                    switch event {
                    case .message(let message):
                        actions = receive(message, machine: &machine, topics: topics, now: now)
                    case .trained(let round, .success(let parameters), let examples):
                        trace.mark("trained")
                        actions = machine.trainingFinished(round: round, trained: parameters, examples: examples, now: now)
                        trace.mark("update_made")
                    case .trained(let round, .failure(let error), _):
                        actions = machine.trainingFailed(round: round, reason: "\(error)", now: now)
                    case .externallyTrained(let round, .success(let output)):
                        let metrics = output.metrics.keys.sorted().map { "\($0) \(output.metrics[$0] ?? 0)" }.joined(separator: ", ")
                        logger.info("trainer finished", metadata: ["round": "\(round)", "examples": "\(output.examples)", "metrics": "\(metrics)"])
                        trace.mark("trained")
                        actions = machine.trainingFinished(round: round, trained: output.parameters, examples: output.examples, now: now)
                        trace.mark("update_made")
                    case .externallyTrained(let round, .failure(let failure)):
                        actions = machine.trainingFailed(round: round, reason: failure.description, now: now)
                    case .evaluated(let evaluation):
                        let topic = topics.evaluation(round: evaluation.round, agent: config.agent)
                        try await client.publish(topic, payload: ProtocolJSON.encode(evaluation), qos: .atLeastOnce, retain: false)
                        logger.info("published evaluation", metadata: ["round": "\(evaluation.round)", "accuracy": "\(evaluation.accuracy ?? .nan)"])
                        actions = []
                    case .trainingStatusDue(let round):
                        actions = machine.trainingRound == round ? [.publishStatus(machine.status(now: now))] : []
                    case .tick:
                        actions = machine.tick(now: now)
                    case .shutdown:
                        shutDown = true
                        break eventLoop
                    }
                    // A due status goes out as it is; any other event's training status waits its delay.
                    if case .trainingStatusDue = event {
                    } else {
                        actions = statusTimer.holdBack(actions, trainingRound: machine.trainingRound, now: now)
                    }
                    if let warning = unscaledWarning,
                        actions.contains(where: { if case .train(_, let base, _) = $0 { base.spec.scaling == nil } else { false } })
                    {
                        logger.warning("local data \(config.dataCSV): \(warning)")
                        unscaledWarning = nil
                    }
                    guard Self.mayWait(actions) else {
                        try await perform(
                            actions, client: client, topics: topics, data: data, holdout: holdout, trainer: trainer, events: continuation)
                        continue
                    }
                    // A shutdown ends a publish the broker does not acknowledge: a served round's update
                    // is kept on disk and goes again at the next start if the aggregator lacks it.
                    let performed: Void? = try await untilShutdown { [actions, machineTopics = topics] in
                        try await perform(
                            actions, client: client, topics: machineTopics, data: data, holdout: holdout, trainer: trainer, events: continuation)
                    }
                    if performed == nil {
                        shutDown = true
                        break eventLoop
                    }
                }
            } onGracefulShutdown: {
                continuation.yield(.shutdown)
            }
        } catch {
            inbox.cancel()
            trainer?.running.stop()
            await client.disconnect()
            throw error
        }
        inbox.cancel()
        trainer?.running.stop()
        if shutDown {
            logger.notice("shutting down")
            let status = AgentStatus(agent: config.agent, state: .offline, lastRound: machine.lastServedRound, time: clock.now())
            if await bounded(.seconds(3), { try await publish(status, client: client, topics: topics) }) == nil {
                logger.warning("could not publish the final status (broker unreachable?)")
            }
        }
        await client.disconnect()
    }

    /// Hands a message to the state machine by its topic.
    private func receive(_ message: MQTTMessage, machine: inout AgentStateMachine, topics: Topics, now: Double) -> [AgentAction] {
        switch try? topics.parse(message.topic) {
        case .globalModel:
            trace.mark("model_received")
            return machine.modelReceived(message.payload, signature: message.signature, now: now)
        case .globalRound:
            trace.mark("round_received")
            return machine.roundReceived(message.payload, signature: message.signature, now: now)
        case .secAggInbox(let kind, let round, _):
            return machine.secAggReceived(kind: kind.rawValue, round: round, payload: message.payload, signature: message.signature, now: now)
        case .secAggUnmask(let round):
            return machine.secAggReceived(kind: "unmask", round: round, payload: message.payload, signature: message.signature, now: now)
        case .homomorphicKey:
            return machine.homomorphicKeyReceived(message.payload, signature: message.signature, now: now)
        case .siteReceipt:
            return machine.siteReceiptReceived(message.payload, now: now)
        default:
            return [.ignored("unexpected message on \(message.topic)")]
        }
    }

    /// The native trainer: `config`'s epochs of the model's own training from `base` on `data`, shuffled with `seed`.
    @Sendable public static func train(base: GlobalModel, config: TrainingConfig, data: Dataset, seed: UInt64) -> Result<Parameters, CoreError> {
        do throws(CoreError) {
            var local = data
            if let scaling = base.spec.scaling { try scaling.apply(to: &local) }
            var parameters = base.parameters
            var trainer = try Trainer(spec: base.spec, config: config)
            var random = SplitMix64(seed: seed)
            _ = try trainer.train(&parameters, on: local, random: &random, reference: base.parameters)
            return .success(parameters)
        } catch {
            return .failure(error)
        }
    }

    /// The update kept for the last served round, if it is there and names that round.
    private static func lastUpdate(_ state: AgentState) -> SentUpdate? {
        let record = state.record
        guard record.lastServedRound > 0, let payload = state.lastUpdate,
            let metadata = try? SafetensorsDecoder.decode(payload).metadata, metadata[ModelCodec.Key.round] == "\(record.lastServedRound)"
        else { return nil }
        return SentUpdate(
            round: record.lastServedRound, payload: payload, signature: record.lastUpdateSignature, publishedDuring: record.lastUpdatePublishedDuring)
    }

    /// The residual of top-k sparsification, unless it is from a round the record does not
    /// count as served (a crash between the two writes): adding it again would count it twice.
    private func residual(_ state: AgentState) -> Parameters? {
        guard let bytes = state.residual, let file = try? SafetensorsDecoder.decode(bytes),
            file.metadata[ModelCodec.Key.job] == config.job, let round = file.metadata[ModelCodec.Key.round].flatMap(Int.init),
            round <= state.record.lastServedRound
        else { return nil }
        return try? Parameters(file.tensors)
    }
}
