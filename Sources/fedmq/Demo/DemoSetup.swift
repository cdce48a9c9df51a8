import FedMQCommandLine
import FedMQCore
import FedMQProtocol
import FedMQRuntime
import Foundation

/// A local job's data split, model and aggregator config, written into its work directory:
/// `fedmq demo` runs it, `fedmq init` leaves it ready to run.
struct DemoSetup {
    static let job = "demo"
    let job: String
    let work: String
    let agents: Int
    let configPath: String
    /// A homomorphic job: identity keys and the enrolment in `work/keys`, and a key holder to run.
    let homomorphic: Bool
    var keys: String { "\(work)/keys" }

    init(
        data dataFile: String, options: CSVOptions = CSVOptions(hasHeader: true, label: .name("label")), job: String = Self.job,
        model: String, partition: String, agents: Int, rounds: Int, seed: UInt64, work: String, privacy: ClientPrivacy?,
        asynchronousBuffer: Int? = nil, homomorphic: Bool = false
    ) throws {
        self.job = job
        self.work = work
        self.agents = agents
        self.homomorphic = homomorphic
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
        if homomorphic {
            // Entries of a delta within ±0.5 in steps of 2^-20; the key holder decrypts sums of at least 2.
            policy.homomorphic = HomomorphicSettings(clip: 0.5, scale: 1_048_576, decryptSeconds: 30)
            policy.weighting = .uniform
            policy.minUpdates = max(2, agents * 7 / 10)
            try Self.writeIdentities(agents: agents, in: "\(work)/keys")
        }
        var config: [String: Any] = [
            "job": job, "model": try JSONSerialization.jsonObject(with: Data(spec.jsonString().utf8)),
            "policy": try JSONSerialization.jsonObject(with: Data(ProtocolJSON.encode(policy))), "seed": seed,
            "evaluation_csv": "\(work)/test.csv", "state_directory": "\(work)/aggregator",
        ]
        if homomorphic { config.merge(["identity_key": "\(work)/keys/aggregator.key", "enrolment": "\(work)/keys/enrolment.json"]) { $1 } }
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
            ] + (homomorphic ? ["--identity-key", "\(keys)/agent-\(index).key", "--enrolment", "\(keys)/enrolment.json"] : []),
            "\(work)/agent-\(index).log"
        )
    }

    /// The key holder of a homomorphic job (its key is made at its first start in `work/keyholder`).
    func keyholderCommand(executables: URL, host: String, port: Int) throws -> (executable: String, arguments: [String], log: String) {
        (
            try siblingExecutable("fedmq-keyholder", in: executables),
            [
                "--job", job, "--host", host, "--port", "\(port)", "--state-dir", "\(work)/keyholder", "--identity-key", "\(keys)/keyholder.key",
                "--enrolment", "\(keys)/enrolment.json", "--min-updates", "2",
            ], "\(work)/keyholder.log"
        )
    }

    /// Ed25519 identities for the aggregator, the key holder and each agent, and the enrolment naming them.
    static func writeIdentities(agents: Int, in directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func identity(_ name: String) throws -> VerifyingKey {
            let key = SigningKey()
            try IdentityFiles.write(key, to: "\(directory)/\(name).key")
            return key.publicKey
        }
        let enrolment = Enrolment(
            aggregator: try identity("aggregator"),
            agents: Dictionary(uniqueKeysWithValues: try (0..<agents).map { ("agent-\($0)", try identity("agent-\($0)")) }),
            keyholder: try identity("keyholder"))
        try JSONEncoder().encode(enrolment).write(to: URL(fileURLWithPath: "\(directory)/enrolment.json"))
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
