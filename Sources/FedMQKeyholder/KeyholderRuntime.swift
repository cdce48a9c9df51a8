import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation
import Logging
import ServiceLifecycle

/// `fedmq-keyholder`: holds a homomorphic job's Paillier private key, publishes the public key
/// (retained, signed) and answers the aggregator's decryption requests as
/// `KeyholderStateMachine` decides. It subscribes to requests only: it never receives an
/// agent's update. A service, like the aggregator's and the agent's runtimes.
public struct KeyholderRuntime: Service {
    public let config: KeyholderConfig
    let logger: Logger
    let connector: any MQTTConnector
    let onStarted: @Sendable () -> Void

    /// - Parameters:
    ///   - connector: the broker connection; libmosquitto unless given.
    ///   - onStarted: called once the runtime has connected and made its first subscriptions and
    ///     publishes (the daemons release their start-up pages then).
    public init(
        config: KeyholderConfig, logger: Logger, connector: any MQTTConnector = NetworkConnector(), onStarted: @escaping @Sendable () -> Void = {}
    ) {
        self.onStarted = onStarted
        self.config = config
        self.connector = connector
        var logger = logger
        logger[metadataKey: "job"] = "\(config.job)"
        self.logger = logger
    }

    private enum Event: Sendable {
        case message(MQTTMessage)
        case connected
        case shutdown
    }

    /// Runs until a graceful shutdown or until the calling task is cancelled.
    public func run() async throws {
        try config.validate()
        reportFileSizeLimitAsError()
        let topics = try Topics(job: config.job)
        let identity = try IdentityFiles.signingKey(at: config.identityKey)
        let enrolment = try IdentityFiles.enrolment(at: config.enrolment)
        guard let aggregator = enrolment.aggregator else {
            throw RuntimeError.file(path: config.enrolment, reason: "names no aggregator key: the key holder answers only signed requests")
        }
        let store = try KeyholderStore(directory: config.stateDirectory)
        let (key, base, created) = try store.loadOrCreateKey(bits: config.keyBits)
        let (answered, floor) = try store.loadAnswered()
        var machine: KeyholderStateMachine
        do {
            machine = try KeyholderStateMachine(
                job: config.job, key: key, base: base, aggregator: aggregator, agents: enrolment.agents, minUpdates: config.minUpdates,
                answered: answered, floor: floor)
        } catch {
            throw RuntimeError.configuration("\(error)")
        }
        logger.notice(
            "\(created ? "generated" : "loaded") a \(key.publicKey.bits)-bit Paillier key (sha256 \(machine.fingerprint.prefix(16))); decrypting aggregates of at least \(config.minUpdates) of \(enrolment.agents.count) enrolled agents"
        )

        let offline = ProtocolJSON.encode(KeyholderStatus(job: config.job, state: .offline))
        let will = LastWill(topic: topics.keyholderStatus, payload: offline, qos: .atLeastOnce, retain: true)
        let client = try connector.transport(options: config.broker.connectionOptions(clientID: "fedmq-keyholder-\(config.job)", will: will))
        let (events, continuation) = AsyncStream.makeStream(of: Event.self)
        let connectionEvents = client.connectionEvents()
        let connectionLog = Task { [logger, clientID = "fedmq-keyholder-\(config.job)"] in
            var log = ConnectionLog(clientID: clientID, logger: logger)
            var first = true
            for await event in connectionEvents {
                log.record(event, now: Date().timeIntervalSince1970)
                guard case .connected = event else { continue }
                // The key goes out again after every reconnect: the broker may have lost its retained copy.
                if !first { continuation.yield(.connected) }
                first = false
            }
        }
        defer { connectionLog.cancel() }
        let started: MQTTSubscription?
        do {
            started = try await untilShutdown { [machine] in
                try await client.connect()
                try await perform(machine.startActions(), client: client, topics: topics, store: store, identity: identity, machine: machine)
                return try await client.subscribe(to: [topics.allDecryptionRequests], qos: .atLeastOnce)
            }
        } catch {
            await client.disconnect()
            throw error
        }
        guard let requests = started else {
            await client.disconnect()
            return
        }
        onStarted()
        let feeder = Task {
            for await message in requests { continuation.yield(.message(message)) }
        }
        defer { feeder.cancel() }
        try await withGracefulShutdownHandler {
            eventLoop: for await event in events {
                let actions: [KeyholderAction]
                switch event {
                case .message(let message):
                    guard case .decryptionRequest(let round) = try? topics.parse(message.topic) else { continue }
                    guard !message.payload.isEmpty else { continue }  // a retained request cleared
                    actions = machine.requestReceived(round: round, payload: message.payload, signature: message.signature)
                case .connected:
                    actions = machine.startActions()
                case .shutdown:
                    break eventLoop
                }
                let performed: Void? = try await untilShutdown { [actions, machine] in
                    try await perform(actions, client: client, topics: topics, store: store, identity: identity, machine: machine)
                }
                if performed == nil { break eventLoop }
            }
        } onGracefulShutdown: {
            continuation.yield(.shutdown)
        }
        logger.notice("shutting down")
        requests.cancel()
        let final = ProtocolJSON.encode(machine.status(.offline, now: Date().timeIntervalSince1970))
        if await bounded(.seconds(3), { try await client.publish(topics.keyholderStatus, payload: final, qos: .atLeastOnce, retain: true) }) == nil {
            logger.warning("could not publish the final status (broker unreachable?)")
        }
        await client.disconnect()
    }

    private func perform(
        _ actions: [KeyholderAction], client: any MQTTTransport, topics: Topics, store: KeyholderStore, identity: SigningKey,
        machine: KeyholderStateMachine
    ) async throws {
        for action in actions {
            switch action {
            case .publishKey(let payload):
                let signature = identity.sign(SignedStatement.homomorphic("he-key", job: config.job, round: 0, payload: payload))
                try await client.publish(
                    topics.homomorphicKey, payload: payload, qos: .atLeastOnce, retain: true, messageExpiry: nil,
                    userProperties: [UserProperty(SignedStatement.property, signature)])
                logger.info("published the public key", metadata: ["topic": "\(topics.homomorphicKey)"])
                try await publishStatus(machine, client: client, topics: topics)
            case .recordAnswer:
                try store.saveAnswered(machine.answered, floor: machine.floor)
            case .publishSum(let round, let payload):
                let signature = identity.sign(SignedStatement.homomorphic("he-sum", job: config.job, round: round, payload: payload))
                try await client.publish(
                    topics.decryptedSum(round: round), payload: payload, qos: .atLeastOnce, retain: false, messageExpiry: nil,
                    userProperties: [UserProperty(SignedStatement.property, signature)])
                logger.notice("decrypted the aggregate", metadata: ["round": "\(round)"])
                try await publishStatus(machine, client: client, topics: topics)
            case .refused(let round, let reason):
                logger.warning("refused to decrypt: \(reason)", metadata: ["round": "\(round)"])
            }
        }
    }

    /// The retained `online` status, with the key and the last round decrypted.
    private func publishStatus(_ machine: KeyholderStateMachine, client: any MQTTTransport, topics: Topics) async throws {
        let status = ProtocolJSON.encode(machine.status(.online, now: Date().timeIntervalSince1970))
        _ = try await client.publish(topics.keyholderStatus, payload: status, qos: .atLeastOnce, retain: true, messageExpiry: nil)
    }
}
