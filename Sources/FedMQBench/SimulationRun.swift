import FedMQAgent
import FedMQCommandLine
import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation
import Logging

/// N agents in this process, each with its own MQTT connection, training switched to a no-op,
/// against a real `fedmq-aggregator` process and a real broker: the protocol's own cost.
struct SimulationRun {
    static let job = "simulation"
    var agents: Int
    var rounds: Int
    /// The model: softmax regression inputs x outputs (100 x 100: 10,100 parameters).
    var inputs = 100
    var outputs = 100
    /// Use this broker instead of a private one.
    var broker: (host: String, port: Int)?

    struct Outcome {
        /// Seconds from seeing round r open (`global/round`) to seeing its model (`global/model`).
        var latencies: [Double]
        var updatesPerRound: [Int]
        var rejected: Int
        var modelBytes: Int
        /// The aggregator's resident memory after each round's model was seen, and its peak.
        var aggregatorRSS: [Int]
        var aggregatorPeakRSS: Int

        var expectedUpdates: Int { updatesPerRound.count * (updatesPerRound.max() ?? 0) }
        func percentile(_ p: Double) -> Double {
            let sorted = latencies.sorted()
            guard !sorted.isEmpty else { return .nan }
            return sorted[min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)]
        }
    }

    /// - Parameter progress: called with each round's number, latency and the aggregator's RSS as they are seen.
    func run(work: String, executables: URL, progress: @escaping @Sendable (Int, Double, Int) -> Void = { _, _, _ in }) async throws -> Outcome {
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        if let broker { return try await run(host: broker.host, port: broker.port, work: work, executables: executables, progress: progress) }
        // A private broker, stopped (by PID) and removed however the run ends.
        return try await withLocalBroker(LocalBrokerConfiguration(extraLines: ["max_queued_messages 100000"])) { local in
            try await run(host: "127.0.0.1", port: local.port, work: work, executables: executables, progress: progress)
        }
    }

    private func run(
        host: String, port: Int, work: String, executables: URL, progress: @escaping @Sendable (Int, Double, Int) -> Void
    ) async throws -> Outcome {
        let topics = try Topics(job: Self.job)
        let data = work + "/data.csv"
        try writeSyntheticData(to: data)

        // Every agent online first, so round 1 measures the round, not the start-up.
        let watcher = try MQTTClient(options: ConnectionOptions(host: host, port: port))
        try await watcher.connect()
        let statuses = try await watcher.subscribe(to: [topics.allStatuses], qos: .atLeastOnce)
        // Warnings and errors only: hundreds of agents logging every round would drown the figures.
        let logger = Logger(label: "fedmq.simulate") { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let agentTasks = (0..<agents).map { index in
            var config = AgentConfig(agent: "sim-\(index)", job: Self.job, dataCSV: data, stateDirectory: "\(work)/agents/sim-\(index)")
            config.broker = BrokerSettings(host: host, port: port)
            config.seed = UInt64(index)
            return Task { try await AgentRuntime(config: config, logger: logger, training: { base, _, _, _ in .success(base.parameters) }).run() }
        }
        defer { for task in agentTasks { task.cancel() } }
        try await withTimeLimit(.seconds(60), waitingFor: "\(agents) simulated agents to connect") { [agents] in
            var online = Set<String>()
            for await message in statuses {
                online.insert(message.topic)
                if online.count == agents { break }
            }
        }
        statuses.cancel()

        let announcements = try await watcher.subscribe(to: [topics.globalRound, topics.globalModel], qos: .atLeastOnce)
        let aggregator = try ChildProcess(
            try siblingExecutable("fedmq-aggregator", in: executables),
            ["--config", try writeAggregatorConfig(work: work, host: host, port: port), "--log-level", "notice"],
            logFile: work + "/aggregator.log")
        let (latencies, rss, modelBytes) = try await withTimeLimit(.seconds(60 + rounds * 30), waitingFor: "\(rounds) simulated rounds") {
            [rounds, pid = aggregator.pid] in
            var opened: [Int: ContinuousClock.Instant] = [:]
            var latencies: [Double] = []
            var rss: [Int] = []
            var modelBytes = 0
            for await message in announcements where !message.retain || message.topic == topics.globalRound {
                let now = ContinuousClock.now
                if message.topic == topics.globalRound {
                    if let round = try? ProtocolJSON.decode(RoundAnnouncement.self, from: message.payload).round, opened[round] == nil {
                        opened[round] = now
                    }
                    continue
                }
                guard let model = try? ModelCodec.decodeModel(message.payload), let start = opened[model.round] else { continue }
                let seconds = Double((now - start).components.attoseconds) * 1e-18 + Double((now - start).components.seconds)
                latencies.append(seconds)
                modelBytes = message.payload.count
                rss.append(Self.residentBytes(of: pid, field: "VmRSS"))
                progress(model.round, seconds, rss.last ?? 0)
                if model.round >= rounds { break }
            }
            return (latencies, rss, modelBytes)
        }
        let peak = Self.residentBytes(of: aggregator.pid, field: "VmHWM")
        let status = await aggregator.stop()
        guard status == 0 else { throw CommandFailure("fedmq-aggregator exited with \(status); see \(work)/aggregator.log") }
        announcements.cancel()
        await watcher.disconnect()
        let metrics = try String(contentsOfFile: work + "/aggregator/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try ProtocolJSON.decode(RoundMetrics.self, from: Array($0.utf8)) }
        return Outcome(
            latencies: latencies, updatesPerRound: metrics.map(\.updates), rejected: metrics.reduce(0) { $0 + $1.rejected.values.reduce(0, +) },
            modelBytes: modelBytes, aggregatorRSS: rss, aggregatorPeakRSS: max(peak, rss.max() ?? 0))
    }

    private func writeSyntheticData(to path: String) throws {
        var random = SplitMix64(seed: 7)
        let rows = 8
        let features = (0..<(rows * inputs)).map { _ in Float(random.nextGaussian()) }
        let targets = (0..<rows).map { Float($0 % outputs) }
        try CSVWriter.write(try Dataset(features: features, targets: targets, featureCount: inputs), to: path)
    }

    private func writeAggregatorConfig(work: String, host: String, port: Int) throws -> String {
        let policy = RoundPolicy(
            rounds: rounds, targetUpdates: agents, minUpdates: agents, roundSeconds: 120, extensionSeconds: 30,
            training: TrainingConfig(learningRate: 0.1, batchSize: 8, epochs: 1))
        let config: [String: Any] = [
            // It stays up after the last round, so its memory can still be read; the run stops it.
            "job": Self.job, "broker": ["host": host, "port": port], "state_directory": work + "/aggregator", "exit_when_finished": false,
            "model": try JSONSerialization.jsonObject(
                with: Data(ModelSpec(kind: .softmaxRegression, inputs: inputs, outputs: outputs).jsonString().utf8)),
            "policy": try JSONSerialization.jsonObject(with: Data(ProtocolJSON.encode(policy))),
        ]
        let path = work + "/aggregator.json"
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A process's resident memory in bytes from /proc (VmRSS now, VmHWM the peak); 0 if it is gone.
    static func residentBytes(of pid: pid_t, field: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
            let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return 0 }
        return kib * 1024
    }
}
