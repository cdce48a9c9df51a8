import FedMQCommandLine
import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import Foundation

/// One sensors-benchmark job, written once for both systems: the shards, the sequential CNN's
/// spec and initial weights, FedMQ's deployment (the spec `bench/flower/harness.py fedmq` runs)
/// and the Flower + PyTorch job file (`harness.py flower-sensors`).
struct SensorJobSetup {
    static let job = "sensors"
    /// What every agent and client does each round.
    static let training = TrainingConfig(learningRate: 0.05, momentum: 0.9, batchSize: 8, epochs: 2)

    let spec: ModelSpec
    let train: Dataset
    let testPath: String
    let initial: Parameters
    let fedmqSpecPath: String
    let flowerJobPath: String
    let specPath: String
    let initialPath: String
    let trainingPath: String
    /// The training windows' file name in the data folder.
    let trainName: String
    /// The agents (and Flower clients) with data: at most 10.
    let agents: Int

    /// The CNN for windows of `channels` x `length` readings and `classes` classes.
    static func cnn(channels: Int, length: Int, classes: Int) -> ModelSpec {
        ModelSpec(
            layers: [
                .conv1d(filters: 16, kernel: 3, stride: 1, padding: 1), .activation(.relu), .conv1d(filters: 16, kernel: 3, stride: 1, padding: 1),
                .activation(.relu), .globalAveragePool, .flatten, .dense(units: classes),
            ], inputs: channels * length, inputShape: [channels, length], outputs: classes)
    }

    /// - Parameters:
    ///   - data: `data/<name>_train.csv` and `_test.csv` (header, label last).
    ///   - partition: how the training windows are dealt to the 10 agents (seed 0).
    ///   - trainer: with it, every agent trains with this command (`trainer` in its config)
    ///     instead of FedMQ's own trainer.
    init(
        data: String, name: String, shape: (channels: Int, length: Int, classes: Int), partition: Partitioner, rounds: Int, work: String,
        executables: URL, trainer: [String]? = nil
    ) throws {
        try FileManager.default.createDirectory(atPath: work + "/shards", withIntermediateDirectories: true)
        let options = CSVOptions(hasHeader: true, label: .name("label"))
        trainName = "\(name)_train.csv"
        let train = try CSVReader.read(file: "\(data)/\(trainName)", options: options)
        self.train = train
        testPath = URL(fileURLWithPath: "\(data)/\(name)_test.csv").standardized.path
        spec = Self.cnn(channels: shape.channels, length: shape.length, classes: shape.classes)
        initial = try spec.initialParameters(seed: 0)
        // A skewed split of a small set leaves some agents nothing: they take no part (in either system).
        let dealt = try partition.partition(train, clients: 10, classes: shape.classes, seed: 0).filter { !$0.isEmpty }
        let shards = try dealt.enumerated().map { index, rows in
            let path = "\(work)/shards/client_\(index).csv"
            try CSVWriter.write(train.subset(rows), to: path, label: "label")
            return path
        }
        agents = shards.count
        specPath = work + "/spec.json"
        try spec.jsonString().write(toFile: specPath, atomically: true, encoding: .utf8)
        initialPath = work + "/initial.safetensors"
        try Data(ModelCodec.encodeModel(initial, spec: spec, job: Self.job, round: 0)).write(to: URL(fileURLWithPath: initialPath))
        trainingPath = work + "/training.json"
        try Data(ProtocolJSON.encode(Self.training)).write(to: URL(fileURLWithPath: trainingPath))

        let port = try LoopbackPort.free()
        let brokerConfig = work + "/mosquitto.conf"
        try "listener \(port) 127.0.0.1\nallow_anonymous true\nmax_queued_messages 10000\nset_tcp_nodelay true\npersistence false\n"
            .write(toFile: brokerConfig, atomically: true, encoding: .utf8)
        let policy = RoundPolicy(
            rounds: rounds, targetUpdates: shards.count, minUpdates: shards.count, roundSeconds: 600, extensionSeconds: 60, training: Self.training,
            weighting: .examples)
        let aggregator: [String: Any] = [
            "job": Self.job, "initial_model": initialPath, "evaluation_csv": testPath, "evaluation_label": "label",
            "state_directory": work + "/fedmq/aggregator", "policy": try JSONSerialization.jsonObject(with: Data(ProtocolJSON.encode(policy))),
        ]
        let aggregatorConfig = work + "/aggregator.json"
        try JSONSerialization.data(withJSONObject: aggregator, options: [.prettyPrinted, .sortedKeys]).write(
            to: URL(fileURLWithPath: aggregatorConfig))
        let broker = ["--host", "127.0.0.1", "--port", "\(port)"]
        let agents = try shards.enumerated().map { k, shard in
            var argv = [try siblingExecutable("fedmq-agent", in: executables), "--agent", "agent-\(k)", "--job", Self.job] + broker
            argv += ["--data", shard, "--label", "label", "--state-dir", "\(work)/fedmq/agent-\(k)", "--seed", "\(k)"]
            guard let trainer else { return argv }
            let config: [String: Any] = [
                "agent": "agent-\(k)", "job": Self.job, "broker": ["host": "127.0.0.1", "port": port], "data_csv": shard, "data_label": "label",
                "state_directory": "\(work)/fedmq/agent-\(k)", "seed": k, "trainer": ["command": trainer, "timeout_seconds": 600],
            ]
            let path = "\(work)/agent-\(k).json"
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
            return [argv[0], "--config", path]
        }
        let fedmq: [String: Any] = [
            "port": port, "job": Self.job, "logs": work + "/fedmq/logs", "metrics": work + "/fedmq/aggregator/metrics.jsonl",
            "broker": [try Programs.path(of: "mosquitto"), "-c", brokerConfig],
            "aggregator": [try siblingExecutable("fedmq-aggregator", in: executables), "--config", aggregatorConfig] + broker, "agents": agents,
        ]
        fedmqSpecPath = work + "/fedmq-spec.json"
        try JSONSerialization.data(withJSONObject: fedmq, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: fedmqSpecPath))
        let flower: [String: Any] = [
            "spec": specPath, "initial": initialPath, "test": testPath, "training": trainingPath, "shards": shards, "rounds": rounds,
        ]
        flowerJobPath = work + "/flower-job.json"
        try JSONSerialization.data(withJSONObject: flower, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: flowerJobPath))
    }

    /// FedMQ's own trainer on all training windows for `epochs` epochs, evaluated on the test windows.
    func centralAccuracy(epochs: Int) throws -> Double {
        var parameters = initial
        var config = Self.training
        config.epochs = epochs
        var trainer = try Trainer(spec: spec, config: config)
        var random = SplitMix64(seed: 0)
        _ = try trainer.train(&parameters, on: train, random: &random)
        let test = try CSVReader.read(file: testPath, options: CSVOptions(hasHeader: true, label: .name("label")))
        return try Evaluation.evaluate(parameters, spec: spec, on: test).accuracy ?? .nan
    }
}
