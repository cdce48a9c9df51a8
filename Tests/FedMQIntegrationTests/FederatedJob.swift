import FedMQAggregator
import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import Foundation
import Testing

/// A federated job on the shipped digits data, run as real processes against a real broker:
/// data files, configs, and the aggregator and agent processes.
struct FederatedJob {
    let broker: LocalBroker
    let job: String
    let directory: URL
    let agents: Int
    /// The broker's port (the broker's own unless given).
    let port: Int

    var stateDirectory: String { directory.appendingPathComponent("aggregator").path }
    var configPath: String { directory.appendingPathComponent("aggregator.json").path }
    var metricsPath: String { stateDirectory + "/metrics.jsonl" }

    /// Splits digits 80/20, deals the training rows IID to `agents` CSVs, writes the
    /// aggregator's config.
    init(
        broker: LocalBroker, job: String, agents: Int, rounds: Int, target: Int, minimum: Int, epochs: Int = 2,
        privacy: ClientPrivacy? = nil, extraConfig: [String: Any] = [:], roundSeconds: Double = 120, port: Int? = nil,
        normBound: Double? = nil, evaluateEvery: Int? = nil, strategy: StrategyConfig? = nil,
        secure: SecureAggregationSettings? = nil, weighting: FedAvg.Weighting? = nil, asynchronous: AsynchronousSettings? = nil,
        homomorphic: HomomorphicSettings? = nil
    ) throws {
        self.broker = broker
        self.port = port ?? broker.port
        self.job = job
        self.agents = agents
        directory = broker.directory.appendingPathComponent(job)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let data = try CSVReader.read(
            file: repositoryFile("data/digits.csv"), options: CSVOptions(hasHeader: true, label: .name("label")))
        let (train, test) = try DataSplit.trainTest(data, testFraction: 0.2, classes: 10, seed: 0)
        try CSVWriter.write(test, to: directory.appendingPathComponent("test.csv").path)
        for (index, rows) in try Partitioner.iid.partition(train, clients: agents, classes: 10, seed: 0).enumerated() {
            try CSVWriter.write(train.subset(rows), to: directory.appendingPathComponent("client_\(index).csv").path)
        }
        let spec = ModelSpec(kind: .mlp, inputs: 64, hidden: [32], outputs: 10, scaling: FeatureScaling.fit(train))
        var policy = RoundPolicy(
            rounds: rounds, targetUpdates: target, minUpdates: minimum, roundSeconds: roundSeconds, extensionSeconds: 30,
            maxUpdateBytes: 1 << 20, normBound: normBound, training: TrainingConfig(learningRate: 0.05, momentum: 0.9, batchSize: 32, epochs: epochs),
            weighting: weighting ?? (privacy == nil && secure == nil && homomorphic == nil ? .examples : .uniform), privacy: privacy)
        policy.secureAggregation = secure
        policy.homomorphic = homomorphic
        policy.evaluateEvery = evaluateEvery
        policy.strategy = strategy
        if let asynchronous {
            policy.mode = .asynchronous
            policy.asynchronous = asynchronous
        }
        var config: [String: Any] = [
            "job": job, "broker": ["host": "127.0.0.1", "port": self.port],
            "model": try JSONSerialization.jsonObject(with: Data(spec.jsonString().utf8)),
            "policy": try JSONSerialization.jsonObject(with: Data(ProtocolJSON.encode(policy))),
            "evaluation_csv": directory.appendingPathComponent("test.csv").path, "state_directory": stateDirectory, "seed": 1,
        ]
        config.merge(extraConfig) { $1 }
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
    }

    /// - Parameter fileSizeLimit: run it under `prlimit --fsize` (bytes), so a write that grows a
    ///   file past the limit fails as a full disk would.
    /// - Parameter environment: added to the process's (a `FEDMQ_TRACE` file, for example).
    func startAggregator(
        fileSizeLimit: Int? = nil, logLevel: String = "debug", extra: [String] = [], environment: [String: String] = [:]
    ) throws -> ChildProcess {
        let aggregator = [try executable("fedmq-aggregator").path, "--config", configPath, "--log-level", logLevel] + extra
        let command = fileSizeLimit.map { ["/usr/bin/prlimit", "--fsize=\($0)"] + aggregator } ?? aggregator
        return try ChildProcess(
            command[0], Array(command.dropFirst()), logFile: directory.appendingPathComponent("aggregator.log").path,
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
    }

    func startAgent(_ index: Int, extra: [String] = [], environment: [String: String] = [:]) throws -> ChildProcess {
        try ChildProcess(
            try executable("fedmq-agent").path,
            extra + [
                "--agent", "a\(index)", "--job", job, "--port", "\(port)", "--seed", "\(index)",
                "--data", directory.appendingPathComponent("client_\(index).csv").path,
                "--state-dir", directory.appendingPathComponent("agent-\(index)").path, "--log-level", "debug",
            ], logFile: directory.appendingPathComponent("agent-\(index).log").path,
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
    }

    /// The closed rounds so far, from the aggregator's metrics log.
    func metrics() throws -> [RoundMetrics] {
        guard let text = try? String(contentsOfFile: metricsPath, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try ProtocolJSON.decode(RoundMetrics.self, from: Array($0.utf8)) }
    }

    var checkpointPath: String { stateDirectory + "/checkpoint.state" }

    /// The aggregator's last checkpoint and the model saved with it; nil before the first.
    func savedCheckpoint() throws -> (checkpoint: AggregatorCheckpoint, model: [UInt8])? {
        try CheckpointFile(path: checkpointPath).read()
    }

    /// Runs the aggregator until it has written its first checkpoint, then stops it.
    func runUntilFirstCheckpoint() async throws {
        let (aggregator, path) = (try startAggregator(), checkpointPath)
        try await eventually("the first checkpoint") { FileManager.default.fileExists(atPath: path) }
        await aggregator.stop()
    }

    func log(_ name: String) -> String {
        (try? String(contentsOf: directory.appendingPathComponent("\(name).log"), encoding: .utf8)) ?? ""
    }

    func spooled(round: Int) -> Int {
        // The intact records of the round's log (a record being appended is not one yet).
        SpoolLog.records(in: (FileManager.default.contents(atPath: stateDirectory + "/spool/round-\(round).log")).map(Array.init) ?? []).records.count
    }
}

/// A file of this repository (tests run from a checkout).
func repositoryFile(_ relative: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(relative).path
}

/// An executable built beside the test bundle.
func executable(_ name: String) throws -> URL {
    try fedmqExecutable().deletingLastPathComponent().appendingPathComponent(name)
}

/// Polls `condition` every 50 ms until it holds, failing after `limit`.
func eventually(_ what: String, within limit: Duration = .seconds(60), _ condition: @escaping @Sendable () throws -> Bool) async throws {
    try await within(limit, what) {
        while try !condition() { try await Task.sleep(for: .milliseconds(50)) }
    }
}
