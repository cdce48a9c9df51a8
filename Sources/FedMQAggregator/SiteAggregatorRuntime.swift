import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation
import Logging
import ServiceLifecycle

/// `fedmq-aggregator` in the site role: beside a site broker bridged to the central one, it
/// runs `SiteStateMachine` against that broker and a state directory, and carries out its
/// actions in order. A service, like `AggregatorRuntime`: it runs until the central aggregator
/// says the job is finished (with `exit_when_finished`), its task is cancelled, or a graceful
/// shutdown (it then publishes an offline status first).
public struct SiteAggregatorRuntime: Service {
    public let config: SiteAggregatorConfig
    let logger: Logger
    let connector: any MQTTConnector
    let clock: any RuntimeClock
    let onStarted: @Sendable () -> Void

    /// - Parameters:
    ///   - connector: the site broker connection; libmosquitto unless given.
    ///   - clock: the wall clock unless given.
    ///   - onStarted: called once the runtime has connected and made its first subscriptions and
    ///     publishes (the daemons release their start-up pages then).
    public init(
        config: SiteAggregatorConfig, logger: Logger, connector: any MQTTConnector = NetworkConnector(), clock: any RuntimeClock = WallClock(),
        onStarted: @escaping @Sendable () -> Void = {}
    ) {
        self.onStarted = onStarted
        self.config = config
        self.connector = connector
        self.clock = clock
        var logger = logger
        logger[metadataKey: "job"] = "\(config.job)"
        logger[metadataKey: "site"] = "\(config.site.name)"
        self.logger = logger
    }

    private enum Event: Sendable {
        case messages, tick, shutdown
    }

    /// Runs until the job is finished (with `exit_when_finished`), a graceful shutdown, or until
    /// the calling task is cancelled.
    public func run() async throws {
        try config.validate()
        reportFileSizeLimitAsError()
        let topics = try Topics(job: config.job)
        let store = try SiteStore(directory: config.stateDirectory)
        let identity = try config.identityKey.map(IdentityFiles.signingKey(at:))
        if identity == nil { logger.warning("no identity_key: partials go unsigned, and a central aggregator with an enrolment refuses them") }
        let enrolment = try config.enrolment.map { try IdentityFiles.enrolment(at: $0) }
        let saved = try store.load()
        var machine = try SiteStateMachine(
            job: config.job, settings: config.site, signers: enrolment?.agents, aggregatorKey: enrolment?.aggregator, checkpoint: saved?.checkpoint,
            spooled: saved?.spooled.map { ($0.agent, $0.payload) } ?? [])
        if let saved {
            logger.notice(
                "resumed round \(saved.checkpoint.round) with \(saved.spooled.count) spooled update(s), partial sent: \(saved.checkpoint.sent)")
        }

        let statusTopic = topics.siteStatus(site: config.site.name)
        let offline = AggregatorStatus(job: config.job, state: .offline, round: nil, time: nil)
        let will = LastWill(topic: statusTopic, payload: ProtocolJSON.encode(offline), qos: .atLeastOnce, retain: true)
        // A persistent session: while the site aggregator restarts, the site broker queues its agents' updates.
        let clientID = "fedmq-site-\(config.site.name)-\(config.job)"
        let client = try connector.transport(
            options: config.broker.connectionOptions(clientID: clientID, will: will, session: .persistent(expiry: .seconds(7 * 24 * 3600))))
        let connectionEvents = client.connectionEvents()
        let connectionLog = Task { [logger, clock] in
            var log = ConnectionLog(clientID: clientID, logger: logger)
            for await event in connectionEvents { log.record(event, now: clock.now()) }
        }
        defer { connectionLog.cancel() }
        // The central round and model come down the bridge as retained messages; updates and
        // statuses come from the site's agents. At most 8 MiB (or about one model) waits here.
        // An ingest shard takes its share of the updates through an MQTT 5 shared subscription.
        let updateFilter = config.site.ingestGroup.map { "$share/\($0)/\(topics.allUpdates)" } ?? topics.allUpdates
        let messages = try await client.subscribeMailbox(
            to: [topics.globalRound, topics.globalModel, topics.aggregatorStatus, updateFilter, topics.allStatuses], qos: .atLeastOnce,
            capacityBytes: 8 << 20)
        let publisher = Publisher(client: client, updates: messages)
        logger.info("connecting to \(config.broker.host):\(config.broker.port)")
        let started: Void? = try await untilShutdown {
            try await client.connect()
            try await publishStatus(publisher, topic: statusTopic, .online, round: nil)
        }
        guard started != nil else {
            await client.disconnect()
            return
        }
        onStarted()
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        let feeders = [
            Task {
                for await _ in messages.arrivals { continuation.yield(.messages) }
            },
            Task { [clock] in
                await clock.ticks(every: AggregatorRuntime.tickInterval, from: clock.now()) { continuation.yield(.tick) }
            },
        ]
        defer { for feeder in feeders { feeder.cancel() } }
        var centralFinished = false
        var centralState: AggregatorStatus.State?
        do {
            try await withGracefulShutdownHandler {
                eventLoop: for await event in events {
                    var actions: [SiteAction] = []
                    switch event {
                    case .messages, .tick:
                        for message in messages.takeAll() {
                            actions += receive(message, machine: &machine, topics: topics)
                            if let state = Self.centralState(message, topics: topics) { centralState = state }
                        }
                        // Finished counts once a round of the job is followed: a site started before a new run of the
                        // same job id must not take the last run's retained status for this one's.
                        centralFinished = centralState == .finished && machine.announcement != nil
                        if case .tick = event { actions += machine.tick(now: clock.now()) }
                    case .shutdown:
                        break eventLoop
                    }
                    let performed: Void? = try await untilShutdown { [actions] in
                        try await perform(actions, publisher: publisher, topics: topics, store: store, identity: identity)
                    }
                    guard performed != nil else { break eventLoop }
                    if centralFinished && config.exitWhenFinished {
                        logger.notice("the central aggregator finished the job")
                        break eventLoop
                    }
                }
            } onGracefulShutdown: {
                continuation.yield(.shutdown)
            }
        } catch {
            await client.disconnect()
            throw error
        }
        let (round, final) = (machine.announcement?.round, centralFinished ? AggregatorStatus.State.finished : .offline)
        if await bounded(.seconds(3), { try await publishStatus(publisher, topic: statusTopic, final, round: round) }) == nil {
            logger.warning("could not publish the final status (broker unreachable?)")
        }
        await client.disconnect()
    }

    /// The central aggregator's state, if `message` is its status.
    static func centralState(_ message: MQTTMessage, topics: Topics) -> AggregatorStatus.State? {
        guard message.topic == topics.aggregatorStatus else { return nil }
        return (try? ProtocolJSON.decode(AggregatorStatus.self, from: message.payload))?.state
    }

    /// Hands a message to the state machine by its topic.
    private func receive(_ message: MQTTMessage, machine: inout SiteStateMachine, topics: Topics) -> [SiteAction] {
        let now = clock.now()
        switch try? topics.parse(message.topic) {
        case .globalRound: return machine.roundReceived(message.payload, signature: message.signature, now: now)
        case .globalModel: return machine.modelReceived(message.payload, signature: message.signature, now: now)
        case .update(let round, let agent):
            return machine.receive(agent: agent, round: round, payload: message.payload, signature: message.signature, now: now)
        case .status(let agent): return machine.statusReceived(agent: agent, payload: message.payload, now: now)
        default: return []
        }
    }

    private func perform(
        _ actions: [SiteAction], publisher: Publisher, topics: Topics, store: SiteStore, identity: SigningKey?
    ) async throws {
        var batch = SpoolBatch(store.spool)
        for action in actions {
            if case .spool = action {} else { try batch.sync() }
            switch action {
            case .spool(let round, let agent, let payload):
                try batch.append(round: round, agent: agent, payload: payload, signature: nil)
                logger.info("accepted update", metadata: ["round": "\(round)", "agent": "\(agent)", "bytes": "\(payload.count)"])
            case .checkpoint(let checkpoint):
                try store.save(checkpoint)
            case .publishPartial(let round, let base, let payload, let updates, let expiry):
                let statement = SignedStatement.partial(job: config.job, round: round, baseSHA256: base, site: config.site.name, payload: payload)
                try await publisher.publish(
                    topics.partial(round: round, site: config.site.name), payload: payload, retain: false, messageExpiry: expiry,
                    userProperties: identity.map { [UserProperty(SignedStatement.property, $0.sign(statement))] } ?? [])
                logger.notice("sent partial", metadata: ["round": "\(round)", "updates": "\(updates)", "bytes": "\(payload.count)"])
            case .publishReceipt(let receipt):
                try await publisher.publish(topics.siteReceipt(site: receipt.site), payload: ProtocolJSON.encode(receipt), retain: true)
                logger.notice(
                    "said whose updates it holds after the restart", metadata: ["round": "\(receipt.round)", "updates": "\(receipt.received.count)"])
            case .rejected(let rejection):
                logger.warning(
                    "rejected update: \(rejection.detail)",
                    metadata: ["round": "\(rejection.round)", "agent": "\(rejection.agent)", "reason": "\(rejection.reason.rawValue)"])
            case .ignored(let reason):
                logger.info("\(reason)")
            }
        }
        try batch.sync()
    }

    private func publishStatus(_ publisher: Publisher, topic: String, _ state: AggregatorStatus.State, round: Int?) async throws {
        let status = AggregatorStatus(job: config.job, state: state, round: round, time: clock.now())
        try await publisher.publish(topic, payload: ProtocolJSON.encode(status), retain: true)
    }
}
