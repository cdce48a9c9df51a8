import FedMQAgent
import FedMQCommandLine
import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation
import Logging
import Synchronization

/// A job on real data with simulated devices: N agents in this process, each training for real
/// on its own shard and taking as long as `DeviceBehaviour` says, online only when it says,
/// against a real `fedmq-aggregator` process and a real broker. It runs until the job has
/// applied `appliedUpdates` updates (or `timeLimit` passed) and reports when each model was
/// published and how accurate it was, so rounds and asynchronous buffers compare on time to
/// accuracy.
struct DeviceFleetRun: Sendable {
    static let job = "fleet"
    var agents: Int
    /// A CSV with a header and a `label` column.
    var data: String
    var partition = "dirichlet:0.3"
    var policy: RoundPolicy
    var behaviour = DeviceBehaviour()
    var appliedUpdates: Int
    var timeLimit = 300.0
    var seed: UInt64 = 0
    var hidden = [32]
    /// Use this broker instead of a private one.
    var broker: (host: String, port: Int)?

    /// The job's policy: the demo's training (one epoch), FedAvg by examples, and in asynchronous
    /// mode FedBuff's polynomial staleness weight.
    static func policy(mode: JobMode, target: Int, minimum: Int, roundSeconds: Double, maxStaleness: Int) -> RoundPolicy {
        var policy = RoundPolicy(
            rounds: nil, targetUpdates: target, minUpdates: minimum, roundSeconds: roundSeconds, extensionSeconds: roundSeconds,
            maxUpdateBytes: 4 << 20, normBound: 100, training: TrainingConfig(learningRate: 0.05, momentum: 0.9, batchSize: 32, epochs: 1))
        if mode == .asynchronous {
            policy.mode = .asynchronous
            policy.asynchronous = AsynchronousSettings(maxStaleness: maxStaleness)
        }
        return policy
    }

    /// One published model: seconds since the job started, its central accuracy, and the updates applied so far.
    struct Point: Codable, Sendable {
        var seconds: Double
        var accuracy: Double
        var applied: Int
    }

    struct Outcome: Codable, Sendable {
        var points: [Point]
        var rejected: [String: Int]
        /// Trainings the devices ran, sent or not (a round that closed meanwhile wastes one).
        var trainings: Int

        /// Seconds until a published model first reached `target`; nil if none did.
        func timeToAccuracy(_ target: Double) -> Double? {
            points.first { $0.accuracy >= target }?.seconds
        }

        /// The accuracy of the first model with at least `updates` applied updates behind it.
        func accuracy(afterUpdates updates: Int) -> Double? {
            points.first { $0.applied >= updates }?.accuracy
        }
    }

    func run(work: String, executables: URL, progress: @escaping @Sendable (RoundMetrics, Double) -> Void = { _, _ in }) async throws -> Outcome {
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        if let broker { return try await run(host: broker.host, port: broker.port, work: work, executables: executables, progress: progress) }
        return try await withLocalBroker(LocalBrokerConfiguration(extraLines: ["max_queued_messages 100000", "set_tcp_nodelay true"])) { local in
            try await run(host: "127.0.0.1", port: local.port, work: work, executables: executables, progress: progress)
        }
    }

    private func run(
        host: String, port: Int, work: String, executables: URL, progress: @escaping @Sendable (RoundMetrics, Double) -> Void
    ) async throws -> Outcome {
        let spec = try writeShards(work: work)
        let aggregatorConfig = try writeAggregatorConfig(spec: spec, work: work, host: host, port: port)
        let logger = Logger(label: "fedmq.simulate") { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .error
            return handler
        }
        let start = Date().timeIntervalSince1970
        let aggregator = try ChildProcess(
            try siblingExecutable("fedmq-aggregator", in: executables), ["--config", aggregatorConfig, "--log-level", "notice"],
            logFile: work + "/aggregator.log")
        let trainings = Counter()
        let devices = (0..<agents).map { index in
            var config = AgentConfig(
                agent: "dev-\(index)", job: Self.job, dataCSV: "\(work)/client_\(index).csv", stateDirectory: "\(work)/agents/dev-\(index)")
            config.broker = BrokerSettings(host: host, port: port)
            config.seed = UInt64(index)
            let periods = behaviour.onlinePeriods(agent: index, name: config.agent, horizon: timeLimit)
            return Task {
                await device(config: config, index: index, periods: periods, start: start, logger: logger, trainings: trainings)
            }
        }
        defer { for device in devices { device.cancel() } }

        let metricsPath = work + "/aggregator/metrics.jsonl"
        var seen = 0
        var applied = 0
        var metrics: [RoundMetrics] = []
        while applied < appliedUpdates && Date().timeIntervalSince1970 - start < timeLimit {
            try await Task.sleep(for: .milliseconds(100))
            if let code = aggregator.poll() { throw CommandFailure("fedmq-aggregator exited with \(code); see \(work)/aggregator.log") }
            let lines = ((try? String(contentsOfFile: metricsPath, encoding: .utf8)) ?? "").split(separator: "\n")
            // A line still being written is read again on the next pass.
            for line in lines.dropFirst(seen) {
                guard let closed = try? ProtocolJSON.decode(RoundMetrics.self, from: Array(line.utf8)) else { break }
                seen += 1
                applied += closed.updates
                metrics.append(closed)
                progress(closed, closed.closedAt - start)
            }
        }
        for device in devices { device.cancel() }
        for device in devices { await device.value }
        let status = await aggregator.stop()
        guard status == 0 else { throw CommandFailure("fedmq-aggregator exited with \(status); see \(work)/aggregator.log") }
        var total = 0
        let points = metrics.compactMap { closed -> Point? in
            total += closed.updates
            return closed.accuracy.map { Point(seconds: closed.closedAt - start, accuracy: $0, applied: total) }
        }
        var rejected: [String: Int] = [:]
        for closed in metrics { rejected.merge(closed.rejected, uniquingKeysWith: +) }
        return Outcome(points: points, rejected: rejected, trainings: trainings.value)
    }

    /// One device: its agent runs while the device is online and is stopped (as a power cut
    /// would: no goodbye) when it goes offline; its state directory survives, as on a device.
    private func device(
        config: AgentConfig, index: Int, periods: [DeviceBehaviour.OnlinePeriod], start: Double, logger: Logger, trainings: Counter
    ) async {
        let training = trainer(index, trainings: trainings)
        for period in periods {
            guard (try? await Task.sleep(for: .seconds(max(0, start + period.start - Date().timeIntervalSince1970)))) != nil else { return }
            let agent = Task { try await AgentRuntime(config: config, logger: logger, training: training).run() }
            let stillRunning = (try? await Task.sleep(for: .seconds(max(0, start + period.end - Date().timeIntervalSince1970)))) != nil
            agent.cancel()
            _ = await agent.result
            if !stillRunning { return }
        }
    }

    /// Real training, then a wait until the device's drawn training time has passed.
    private func trainer(_ index: Int, trainings: Counter) -> AgentRuntime.Training {
        let draws = Mutex(0)
        return { [behaviour, agents] base, config, data, seed in
            trainings.add()
            let began = ContinuousClock.now
            let result = AgentRuntime.train(base: base, config: config, data: data, seed: seed)
            let draw = draws.withLock { count in
                defer { count += 1 }
                return count
            }
            let remaining = Duration.seconds(behaviour.trainingSeconds(agent: index, of: agents, draw: draw)) - (ContinuousClock.now - began)
            if remaining > .zero { try? await Task.sleep(for: remaining) }
            return result
        }
    }

    /// Splits the data 80/20, deals the training rows to the agents, writes the test set; the model's spec.
    private func writeShards(work: String) throws -> ModelSpec {
        let all = try CSVReader.read(file: data, options: CSVOptions(hasHeader: true, label: .name("label")))
        let classes = Int((all.targets.max() ?? 1) + 1)
        let (train, test) = try DataSplit.trainTest(all, testFraction: 0.2, classes: classes, seed: seed)
        for (index, rows) in try Partitioner(parsing: partition).partition(train, clients: agents, classes: classes, seed: seed).enumerated() {
            try CSVWriter.write(train.subset(rows), to: "\(work)/client_\(index).csv")
        }
        try CSVWriter.write(test, to: "\(work)/test.csv")
        return ModelSpec(kind: .mlp, inputs: all.featureCount, hidden: hidden, outputs: classes, scaling: FeatureScaling.fit(train))
    }

    private func writeAggregatorConfig(spec: ModelSpec, work: String, host: String, port: Int) throws -> String {
        var policyJSON = try JSONSerialization.jsonObject(with: Data(ProtocolJSON.encode(policy))) as? [String: Any] ?? [:]
        policyJSON["rounds"] = NSNull()  // forever: the run stops the job
        let config: [String: Any] = [
            "job": Self.job, "broker": ["host": host, "port": port], "state_directory": work + "/aggregator", "seed": seed,
            "evaluation_csv": work + "/test.csv",
            "model": try JSONSerialization.jsonObject(with: Data(spec.jsonString().utf8)),
            "policy": policyJSON,
        ]
        let path = work + "/aggregator.json"
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// A count shared by the devices' tasks.
final class Counter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
