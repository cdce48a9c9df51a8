import FedMQCore
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation
import Logging
import Prometheus
import ServiceLifecycle

/// `fedmq-aggregator`: runs the round state machine against a broker and a state directory.
/// The state machine decides; this type only carries out its actions, in order.
///
/// A service: it runs until the job is finished (with `exit_when_finished`), its task is
/// cancelled, or its service group shuts down gracefully (it then publishes an offline
/// status first). Its transport and clock are handed in, so tests drive it through an
/// `InMemoryBroker` and a clock they move.
public struct AggregatorRuntime: Service {
    public let config: AggregatorConfig
    let logger: Logger
    let connector: any MQTTConnector
    let clock: any RuntimeClock
    let metrics: AggregatorMetrics
    /// Stage marks for `make bench-round` (off unless `FEDMQ_TRACE` is set).
    let trace = StageTrace(process: "aggregator")
    let onStarted: @Sendable () -> Void
    /// How often open rounds are checked against their deadline, in seconds.
    static let tickInterval = 0.2

    /// - Parameters:
    ///   - connector: the broker connection; libmosquitto unless given.
    ///   - clock: the wall clock unless given.
    ///   - metrics: where to count rounds, updates and rejections for Prometheus; nowhere unless given.
    ///   - onStarted: called once the runtime has connected and made its first subscriptions and
    ///     publishes (the daemons release their start-up pages then).
    public init(
        config: AggregatorConfig, logger: Logger, connector: any MQTTConnector = NetworkConnector(), clock: any RuntimeClock = WallClock(),
        metrics: PrometheusCollectorRegistry? = nil, onStarted: @escaping @Sendable () -> Void = {}
    ) {
        self.onStarted = onStarted
        self.config = config
        self.connector = connector
        self.clock = clock
        self.metrics = AggregatorMetrics(registry: metrics, job: config.job)
        var logger = logger
        logger[metadataKey: "job"] = "\(config.job)"
        self.logger = logger
    }

    private enum Event: Sendable {
        /// Updates, statuses or evaluations are waiting in the mailbox.
        case updates
        case tick
        /// The broker accepted a connection without our session: it may have lost its
        /// retained messages (restarted without persistence, or before its autosave).
        case connectedWithoutSession
        case shutdown
    }

    /// Runs until the job is finished (with `exit_when_finished`), a graceful shutdown, or
    /// until the calling task is cancelled.
    public func run() async throws {
        try config.validate()
        reportFileSizeLimitAsError()
        let topics = try Topics(job: config.job)
        let store = try AggregatorStore(directory: config.stateDirectory)
        let identity = try config.identityKey.map(IdentityFiles.signingKey(at:))
        let enrolment = try config.enrolment.map { try IdentityFiles.enrolment(at: $0) }
        let signers = try contributorKeys(enrolment)
        if let warning = config.policy.unboundedUpdatesWarning { logger.warning("\(warning)") }
        metrics.start(privacy: config.policy.privacy != nil)
        let (made, fresh) = try makeMachine(store: store, signers: signers, keyholder: enrolment?.keyholder)
        var machine = made

        let offline = AggregatorStatus(job: config.job, state: .offline, round: nil, time: nil)
        let will = LastWill(topic: topics.aggregatorStatus, payload: ProtocolJSON.encode(offline), qos: .atLeastOnce, retain: true)
        // A persistent session: while the aggregator restarts, the broker queues the updates
        // agents publish (QoS 1), so none is lost.
        let clientID = "fedmq-aggregator-\(config.job)"
        let client = try connector.transport(
            options: config.broker.connectionOptions(clientID: clientID, will: will, session: .persistent(expiry: .seconds(7 * 24 * 3600))))
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        // The stream exists before the task runs, so the first connection attempts are not missed.
        let connectionEvents = client.connectionEvents()
        let connectionLog = Task { [logger, clock] in
            var log = ConnectionLog(clientID: clientID, logger: logger)
            // The first connection publishes the retained state on its own (below); a later one
            // without a session means the broker may have lost it.
            var connectedBefore = false
            for await event in connectionEvents {
                log.record(event, now: clock.now())
                guard case .connected(let sessionPresent) = event else { continue }
                if connectedBefore && !sessionPresent { continuation.yield(.connectedWithoutSession) }
                connectedBefore = true
            }
        }
        defer { connectionLog.cancel() }
        // Subscribe before connecting: the broker delivers the updates it queued in our session
        // right after accepting the connection, and they must find the subscription in place.
        // Flow control: at most two dense updates' worth of bytes, or 1 MiB for small models,
        // waits in this process (two, so that the network thread reads the next update while
        // this one is checked and spooled); the broker holds the rest of a burst, so memory stays
        // a small multiple of the model's size however many agents send at once. Updates are taken in
        // batches (one spool fsync each): with small models a batch holds many, which spares a
        // wake-up and an fsync per update. Agents' statuses and evaluations come through the
        // same mailbox: a flood of them is bounded the same way.
        // A central aggregator with sites hears only their partials: its ingest is O(sites).
        let homomorphic = config.policy.homomorphic == nil ? [] : [topics.homomorphicKey, topics.allDecryptedSums]
        let agentTopics = [topics.allUpdates, topics.allSecAgg, topics.allEvaluations, topics.allStatuses] + homomorphic
        let updates = try await client.subscribeMailbox(
            to: config.policy.sites == nil ? agentTopics : [topics.allPartials], qos: .atLeastOnce,
            capacityBytes: max(2 * machine.modelBytes.count, 1 << 20))
        let publisher = Publisher(client: client, updates: updates)
        logger.info("connecting to \(config.broker.host):\(config.broker.port)")
        let firstTick = clock.now()
        let (startActions, startRound) = (machine.startActions(fresh: fresh), machine.announcement.round)
        let started: Void?
        do {
            started = try await untilShutdown {
                try await client.connect()
                try await publishStatus(publisher, topics, .online, round: startRound)
                try await perform(startActions, publisher: publisher, topics: topics, store: store, identity: identity)
            }
        } catch {
            await client.disconnect()
            throw error
        }
        guard started != nil else {
            logger.notice("shutting down before the broker answered")
            await client.disconnect()
            return
        }
        onStarted()

        let feeders = [
            Task {
                for await _ in updates.arrivals { continuation.yield(.updates) }
            },
            Task { [clock] in
                await clock.ticks(every: Self.tickInterval, from: firstTick) { continuation.yield(.tick) }
            },
        ]
        defer { for feeder in feeders { feeder.cancel() } }
        let alreadyDone = machine.finished && config.exitWhenFinished
        // Whether the loop ended because the job is done (not a shutdown): its final status may wait for a busy broker.
        var exitingFinished = alreadyDone
        do {
            try await withGracefulShutdownHandler {
                eventLoop: for await event in events {
                    if alreadyDone { break }
                    let actions: [AggregatorAction]
                    switch event {
                    case .updates:
                        actions = updates.takeAll().flatMap { receive($0, machine: &machine, topics: topics) }
                    case .tick:
                        // What waits in the mailbox arrived before this tick: it counts before the deadline does.
                        actions = updates.takeAll().flatMap { receive($0, machine: &machine, topics: topics) } + machine.tick(now: clock.now())
                    case .connectedWithoutSession:
                        // The retained model, round and status come from this process's own state again.
                        logger.notice("the broker kept no session: publishing the retained model, round and status again")
                        try await publishStatus(publisher, topics, machine.finished ? .finished : .online, round: machine.announcement.round)
                        actions = machine.startActions(fresh: false)
                    case .shutdown:
                        logger.notice("shutting down in round \(machine.announcement.round)")
                        break eventLoop
                    }
                    // A publish waits for the broker's acknowledgement, which a broker that is gone never
                    // sends: a shutdown ends the wait. Nothing is lost by it: files are written before
                    // the publishes that depend on them, and the next start publishes the retained
                    // state again (and appends metrics the checkpoint has but the log lacks).
                    let performed: Void? = try await untilShutdown { [actions] in
                        try await perform(actions, publisher: publisher, topics: topics, store: store, identity: identity)
                    }
                    guard performed != nil else {
                        logger.notice("shutting down in round \(machine.announcement.round) while the broker had not acknowledged a publish")
                        break eventLoop
                    }
                    if machine.finished && config.exitWhenFinished {
                        exitingFinished = true
                        break
                    }
                }
            } onGracefulShutdown: {
                continuation.yield(.shutdown)
            }
        } catch {
            // Leave the broker before the subscriptions are torn down, so that the persistent
            // session keeps them and queues what arrives while this process is gone.
            await client.disconnect()
            throw error
        }
        let final: AggregatorStatus.State = machine.finished ? .finished : .offline
        let round = machine.announcement.round
        // A job that ends because it is done waits out a busy broker for its last word (it is how
        // operators and tools learn the job is done); a shutdown does not wait long for a broker
        // that may be gone.
        let limit: Duration = exitingFinished ? .seconds(30) : .seconds(3)
        if await bounded(limit, { try await publishStatus(publisher, topics, final, round: round) }) == nil {
            logger.warning("could not publish the final status (broker unreachable?)")
        }
        await client.disconnect()
    }

    /// Hands a message to the state machine by its topic.
    private func receive(_ message: MQTTMessage, machine: inout any AggregatorMachine, topics: Topics) -> [AggregatorAction] {
        switch try? topics.parse(message.topic) {
        case .update(let round, let agent):
            trace.mark("update_received", agent)
            defer { trace.mark("update_checked", agent) }
            return machine.receive(agent: agent, round: round, payload: message.payload, signature: message.signature, now: clock.now())
        case .partial(let round, let site):
            return machine.receivePartial(site: site, round: round, payload: message.payload, signature: message.signature, now: clock.now())
        case .secAgg(let stage, let round, let agent):
            let actions = machine.receiveSecAgg(
                agent: agent, round: round, stage: stage, payload: message.payload, signature: message.signature, now: clock.now())
            if !actions.contains(where: { if case .rejected = $0 { true } else { false } }) {
                logger.debug("secure aggregation: received \(stage.rawValue)", metadata: ["round": "\(round)", "agent": "\(agent)"])
            }
            return actions
        case .evaluation(let round, let agent):
            return machine.receiveEvaluation(agent: agent, round: round, payload: message.payload)
        case .status(let agent):
            defer { metrics.online(machine.online.count) }
            return machine.statusReceived(agent: agent, payload: message.payload, now: clock.now())
        case .homomorphicKey:
            return machine.homomorphicKeyReceived(message.payload, signature: message.signature, now: clock.now())
        case .decryptedSum(let round):
            return machine.decryptedSumReceived(round: round, payload: message.payload, signature: message.signature, now: clock.now())
        default:
            return []
        }
    }

    /// Whose signatures count: the enrolled agents', or with sites the site aggregators'.
    private func contributorKeys(_ enrolment: Enrolment?) throws(RuntimeError) -> [String: VerifyingKey]? {
        guard let enrolment else { return nil }
        guard let sites = config.policy.sites else {
            logger.notice("updates must be signed by one of \(enrolment.agents.count) enrolled agents")
            return enrolment.agents
        }
        let keys = enrolment.sites ?? [:]
        if let unknown = sites.first(where: { keys[$0] == nil }) {
            throw .configuration("policy.sites names '\(unknown)', which has no key in the enrolment's 'sites' (\(config.enrolment ?? ""))")
        }
        logger.notice("partials must be signed by one of \(sites.count) enrolled sites")
        return keys
    }

    /// Server distillation's public rows (all columns are inputs), if the job distills.
    private func publicData() throws -> Dataset? {
        try config.publicCSV.map { try CSVReader.read(file: $0, options: CSVOptions(hasHeader: config.publicHeader, label: .none)) }
    }

    private func makeMachine(
        store: AggregatorStore, signers: [String: VerifyingKey]?, keyholder: VerifyingKey?
    ) throws -> (any AggregatorMachine, fresh: Bool) {
        if config.resetState && !store.hasCheckpoint && !store.orphans.isEmpty {
            let aside = try store.moveOrphansAside(now: clock.now())
            logger.warning("--reset: moved the previous job's files to \(aside)")
        }
        if let saved = try store.load(reset: config.resetState) {
            if let repaired = try store.repairMetrics(from: saved.checkpoint) {
                logger.notice("appended the metrics of round \(repaired.round), which the last run closed but did not log")
            }
            if config.policy.analytics != nil, saved.checkpoint.finished, (config.policy.rounds ?? .max) > saved.checkpoint.announcement.round {
                let machine = try AggregatorStateMachine(
                    nextQueryAfter: saved.checkpoint, job: config.job, policy: config.policy, now: clock.now(), signers: signers,
                    random: KernelRandom())
                logger.notice("asking the analytics job's next queries in round \(machine.announcement.round)")
                return (machine, true)
            }
            let spec = try ModelCodec.decodeModel(saved.model).spec
            if let analytics = config.policy.analytics, spec != .statistics(analytics) {
                throw RuntimeError.configuration(
                    "the checkpoint in \(config.stateDirectory) holds an unfinished round of other analytics queries: ask those again to finish it, or ask the new ones in another state directory"
                )
            }
            let evaluator = try makeEvaluator(spec: spec)
            let machine: any AggregatorMachine =
                switch config.policy.mode {
                case .rounds:
                    try AggregatorStateMachine(
                        job: config.job, policy: config.policy, checkpoint: saved.checkpoint, modelBytes: saved.model,
                        spooled: saved.spooled.map { ($0.agent, $0.payload) }, signatures: signatures(saved.spooled), evaluator: evaluator,
                        signers: signers, keyholder: keyholder, publicData: try publicData(), random: KernelRandom())
                case .asynchronous:
                    try BufferedAggregatorStateMachine(
                        job: config.job, policy: config.policy, checkpoint: saved.checkpoint, modelBytes: saved.model,
                        spooled: saved.spooled.map { ($0.agent, $0.payload) }, evaluator: evaluator, signers: signers, random: KernelRandom())
                }
            logger.notice(
                "resumed round \(machine.announcement.round) from \(config.stateDirectory) with \(machine.acceptedAgents.count) spooled update(s)")
            return (machine, false)
        }
        let (spec, parameters): (ModelSpec, Parameters)
        if let analytics = config.policy.analytics {
            let statistics = ModelSpec.statistics(analytics)
            (spec, parameters) = (statistics, try statistics.initialParameters(seed: 0))
        } else if let path = config.initialModel {
            let model = try ModelCodec.decodeModel(try DurableFile.read(path))
            (spec, parameters) = (model.spec, model.parameters)
        } else if let configured = config.model {
            (spec, parameters) = (configured, try configured.initialParameters(seed: config.seed))
        } else {
            throw RuntimeError.configuration("no model given")
        }
        let evaluator = try makeEvaluator(spec: spec)
        let machine: any AggregatorMachine =
            switch config.policy.mode {
            case .rounds:
                try AggregatorStateMachine(
                    job: config.job, policy: config.policy, spec: spec, initial: parameters, now: clock.now(), evaluator: evaluator,
                    signers: signers, keyholder: keyholder, publicData: try publicData(), random: KernelRandom())
            case .asynchronous:
                try BufferedAggregatorStateMachine(
                    job: config.job, policy: config.policy, spec: spec, initial: parameters, now: clock.now(), evaluator: evaluator,
                    signers: signers, random: KernelRandom())
            }
        logger.notice("starting \(config.policy.mode.rawValue) job with a \(spec.kind.rawValue) model of \(parameters.count) parameters")
        return (machine, true)
    }

    /// The agents' signatures the spool kept, by agent.
    private func signatures(_ records: [SpoolLog.Record]) -> [String: String] {
        Dictionary(records.compactMap { record in record.signature.map { (record.agent, $0) } }, uniquingKeysWith: { _, last in last })
    }
}
