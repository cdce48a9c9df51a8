import FedMQAgent
import FedMQAggregator
import FedMQCore
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation
import Logging
import Prometheus
import ServiceLifecycle

/// A job's aggregator and agents as services in this process, on an `InMemoryBroker` and a
/// `ManualClock`, with their state and data in a fresh temporary directory. The runtimes are
/// the real ones: only the network and the passing of time are replaced.
final class RuntimeFleet: Sendable {
    static let spec = ModelSpec(kind: .softmaxRegression, inputs: 3, outputs: 2)

    let job: String
    let topics: Topics
    let broker = InMemoryBroker()
    let clock = ManualClock()
    let logs = LogRecorder()
    let directory: URL
    var aggregatorClientID: String { "fedmq-aggregator-\(job)" }

    init(job: String = "plant") throws {
        self.job = job
        topics = try Topics(job: job)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-runtime-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func policy(rounds: Int, target: Int, minimum: Int) -> RoundPolicy {
        RoundPolicy(
            rounds: rounds, targetUpdates: target, minUpdates: minimum, roundSeconds: 60, extensionSeconds: 30, normBound: 100,
            training: TrainingConfig(learningRate: 0.5, batchSize: 8, epochs: 1))
    }

    func aggregatorConfig(policy: RoundPolicy) -> AggregatorConfig {
        var config = AggregatorConfig(job: job, policy: policy, stateDirectory: path("aggregator"))
        config.model = Self.spec
        config.seed = 7
        return config
    }

    /// Agent `index` (id `a<index>`) with 40 rows of its own: label 1 where x0 + x1 > x2.
    func agentConfig(_ index: Int) throws -> AgentConfig {
        var random = SplitMix64(seed: UInt64(index) + 1)
        var rows: [String] = []
        for _ in 0..<40 {
            let x = (0..<3).map { _ in Double(random.next() % 2001) / 1000 - 1 }
            rows.append(x.map { String(format: "%.3f", $0) }.joined(separator: ",") + ",\(x[0] + x[1] > x[2] ? 1 : 0)")
        }
        let data = path("a\(index).csv")
        try (rows.joined(separator: "\n") + "\n").write(toFile: data, atomically: true, encoding: .utf8)
        var config = AgentConfig(agent: "a\(index)", job: job, dataCSV: data, stateDirectory: path("agent-\(index)"))
        config.seed = UInt64(index)
        return config
    }

    /// A signed fleet: the aggregator's key (`aggregator.key`), agent k's key (`a<k>.key`) for
    /// `agents` agents and the enrolment naming them (`enrolment.json`). Returns the aggregator's key.
    func enrol(agents: Int) throws -> SigningKey {
        let aggregatorKey = SigningKey()
        try IdentityFiles.write(aggregatorKey, to: path("aggregator.key"))
        var enrolled: [String: VerifyingKey] = [:]
        for index in 0..<agents {
            let key = SigningKey()
            try IdentityFiles.write(key, to: path("a\(index).key"))
            enrolled["a\(index)"] = key.publicKey
        }
        try JSONEncoder().encode(Enrolment(aggregator: aggregatorKey.publicKey, agents: enrolled)).write(
            to: URL(fileURLWithPath: path("enrolment.json")))
        return aggregatorKey
    }

    /// `config` of agent k in the fleet `enrol` made: its key, the aggregator's and the enrolment.
    func enrolled(_ config: AgentConfig, _ index: Int, aggregator: SigningKey) -> AgentConfig {
        var config = config
        config.identityKey = path("a\(index).key")
        config.aggregatorKey = aggregator.publicKey.base64
        config.enrolment = path("enrolment.json")
        return config
    }

    /// The aggregator's `config` in the fleet `enrol` made: it signs, and counts enrolled agents only.
    func enrolled(_ config: AggregatorConfig) -> AggregatorConfig {
        var config = config
        config.identityKey = path("aggregator.key")
        config.enrolment = path("enrolment.json")
        return config
    }

    /// - Parameter metrics: where the aggregator counts for Prometheus, if anywhere.
    func aggregator(_ config: AggregatorConfig, metrics: PrometheusCollectorRegistry? = nil) -> RunningService {
        RunningService(
            AggregatorRuntime(config: config, logger: logs.logger("aggregator"), connector: broker, clock: clock, metrics: metrics), logs: logs)
    }

    /// - Parameter training: the real trainer unless given.
    func agent(_ config: AgentConfig, training: AgentRuntime.Training? = nil) -> RunningService {
        RunningService(
            AgentRuntime(config: config, logger: logs.logger(config.agent), training: training, connector: broker, clock: clock), logs: logs)
    }

    /// A subscription of the test's own, which sees what an operator's `mosquitto_sub` would.
    func observe(_ filters: [String]) async throws -> MQTTSubscription {
        try await broker.connect(clientID: "observer-\(UUID().uuidString)").subscribe(to: filters, qos: .atLeastOnce)
    }

    /// The retained message on `topic`, decoded.
    func retained<Message: Decodable & SchemaVersioned>(_ type: Message.Type, on topic: String) throws -> Message? {
        try broker.retainedMessage(on: topic).map { try ProtocolJSON.decode(Message.self, from: $0.payload) }
    }

    /// The metrics the aggregator appended to its `metrics.jsonl`, one per closed round.
    func metricsLog() throws -> [RoundMetrics] {
        guard FileManager.default.fileExists(atPath: path("aggregator/metrics.jsonl")) else { return [] }
        let text = try String(contentsOfFile: path("aggregator/metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try ProtocolJSON.decode(RoundMetrics.self, from: Array($0.utf8)) }
    }
}

/// A runtime running in its own service group, as the executables run it.
struct RunningService: Sendable {
    let group: ServiceGroup
    let task: Task<Void, any Error>

    init(_ service: some Service, logs: LogRecorder) {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)], logger: logs.logger("group")))
        self.group = group
        task = Task { try await group.run() }
    }

    /// Shuts the service down gracefully (as SIGTERM does) and waits for it to end.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }

    /// Waits for the service to end on its own.
    func finished() async throws {
        try await task.value
    }

    /// Ends the service as a crash would: the broker drops its connection without a goodbye
    /// (its last will is published), then its task is cancelled.
    func kill(clientID: String, on broker: InMemoryBroker) async {
        broker.sever(clientID: clientID)
        task.cancel()
        _ = try? await task.value
    }
}

extension MQTTSubscription {
    /// The first message that `match` turns into a value.
    func first<Value>(_ match: (MQTTMessage) throws -> Value?) async throws -> Value {
        for await message in self {
            if let value = try match(message) { return value }
        }
        throw CancellationError()
    }
}
