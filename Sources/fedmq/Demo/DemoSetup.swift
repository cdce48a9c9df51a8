import FedMQCommandLine
import FedMQCore
import FedMQProtocol
import Foundation

/// A local job's data split, model and aggregator config, written into its work directory:
/// `fedmq demo` runs it, `fedmq init` leaves it ready to run.
struct DemoSetup {
    static let job = "demo"
    let job: String
    let work: String
    let agents: Int
    let configPath: String

    init(
        data dataFile: String, options: CSVOptions = CSVOptions(hasHeader: true, label: .name("label")), job: String = Self.job,
        model: String, partition: String, agents: Int, rounds: Int, seed: UInt64, work: String, privacy: ClientPrivacy?,
        asynchronousBuffer: Int? = nil
    ) throws {
        self.job = job
        self.work = work
        self.agents = agents
        let data = try CSVReader.read(file: dataFile, options: options)
        let classes = Int((data.targets.max() ?? 1) + 1)
        let (train, test) = try DataSplit.trainTest(data, testFraction: 0.2, classes: classes, seed: seed)
        let scheme = try Partitioner(parsing: partition)
        for (index, rows) in try scheme.partition(train, clients: agents, classes: classes, seed: seed).enumerated() {
            try CSVWriter.write(train.subset(rows), to: "\(work)/client_\(index).csv")
        }
        try CSVWriter.write(test, to: "\(work)/test.csv")
        let scaling = FeatureScaling.fit(train)
        let spec =
            model == "mlp"
            ? ModelSpec(kind: .mlp, inputs: data.featureCount, hidden: [32], outputs: classes, scaling: scaling)
            : ModelSpec(kind: .softmaxRegression, inputs: data.featureCount, outputs: classes, scaling: scaling)
        var policy = RoundPolicy(
            rounds: rounds, targetUpdates: asynchronousBuffer ?? agents, minUpdates: asynchronousBuffer ?? max(1, agents * 7 / 10),
            roundSeconds: 30, extensionSeconds: 10, maxUpdateBytes: 4 << 20,
            training: TrainingConfig(learningRate: 0.05, momentum: 0.9, batchSize: 32, epochs: 2),
            weighting: privacy == nil ? .examples : .uniform, privacy: privacy)
        if asynchronousBuffer != nil {
            // Each agent trains on the newest version it holds; buffers of the given size make versions.
            policy.mode = .asynchronous
            policy.asynchronous = AsynchronousSettings()
        }
        let config: [String: Any] = [
            "job": job, "model": try JSONSerialization.jsonObject(with: Data(spec.jsonString().utf8)),
            "policy": try JSONSerialization.jsonObject(with: Data(ProtocolJSON.encode(policy))), "seed": seed,
            "evaluation_csv": "\(work)/test.csv", "state_directory": "\(work)/aggregator",
        ]
        configPath = "\(work)/aggregator.json"
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: configPath))
    }

    func aggregatorCommand(executables: URL, host: String, port: Int) throws -> (executable: String, arguments: [String], log: String) {
        (
            try siblingExecutable("fedmq-aggregator", in: executables),
            ["--config", configPath, "--host", host, "--port", "\(port)"], "\(work)/aggregator.log"
        )
    }

    func agentCommand(_ index: Int, executables: URL, host: String, port: Int) throws -> (executable: String, arguments: [String], log: String) {
        (
            try siblingExecutable("fedmq-agent", in: executables),
            [
                "--agent", "agent-\(index)", "--job", job, "--host", host, "--port", "\(port)", "--data", "\(work)/client_\(index).csv",
                "--state-dir", "\(work)/agent-\(index)", "--seed", "\(index)",
            ], "\(work)/agent-\(index).log"
        )
    }

    /// The shipped data set, looked up from the working directory or beside the executable's checkout.
    static func dataPath(_ dataset: String) throws -> String {
        let candidates =
            ["data/\(dataset).csv"] + [
                URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
                    .appendingPathComponent("../../../data/\(dataset).csv").standardized.path
            ]
        guard let found = candidates.first(where: FileManager.default.fileExists(atPath:)) else {
            throw CommandFailure("cannot find data/\(dataset).csv; run the demo from the repository's top folder")
        }
        return found
    }
}
