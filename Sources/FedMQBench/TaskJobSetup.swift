import FedMQCommandLine
import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import Foundation

/// The shared benchmark task (bench/task/TASK.md) as a FedMQ deployment: a broker config, an
/// aggregator config and ten agent command lines, written into a fresh work directory, plus
/// the spec file `bench/flower/harness.py` launches and measures.
struct TaskJobSetup {
    static let job = "task"
    let specPath: String

    /// - Parameters:
    ///   - model: "logreg" (zero init), "mlp" (the task's committed initial weights) or
    ///     "mlp256" (a wider 64-256-10 MLP, He-uniform from seed 0; not part of the task).
    ///   - split: "iid" or "noniid" (the task's client shards).
    ///   - encoding: how agents encode their updates.
    ///   - topK: with it, agents send only this share of each update (top-k with error feedback).
    init(
        model: String, split: String, rounds: Int, encoding: TensorEncoding = .float32, topK: Double? = nil, taskDirectory: String, work: String,
        executables: URL
    ) throws {
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let data = URL(fileURLWithPath: taskDirectory).standardized.path + "/data"
        let port = try LoopbackPort.free()
        let brokerConfig = work + "/mosquitto.conf"
        try "listener \(port) 127.0.0.1\nallow_anonymous true\nmax_queued_messages 10000\nset_tcp_nodelay true\npersistence false\n"
            .write(toFile: brokerConfig, atomically: true, encoding: .utf8)

        var aggregator: [String: Any] = [
            "job": Self.job, "seed": 0, "evaluation_csv": data + "/test.csv", "state_directory": work + "/aggregator",
            "policy": try JSONSerialization.jsonObject(
                with: Data(
                    ProtocolJSON.encode(
                        RoundPolicy(
                            rounds: rounds, targetUpdates: 10, minUpdates: 10, roundSeconds: 600, extensionSeconds: 60,
                            training: TrainingConfig(learningRate: 0.1, batchSize: 32, epochs: 1), encoding: encoding, weighting: .examples)))),
        ]
        if model == "mlp" {
            let spec = ModelSpec(kind: .mlp, inputs: 64, hidden: [32], outputs: 10)
            let tensors = try spec.parameterLayout.map { name, shape in
                try Tensor(name: name, shape: shape, values: Self.numbers(in: "\(data)/mlp_init_\(name).csv"))
            }
            let initial = work + "/initial-model.safetensors"
            try Data(ModelCodec.encodeModel(try Parameters(tensors), spec: spec, job: Self.job, round: 0)).write(to: URL(fileURLWithPath: initial))
            aggregator["initial_model"] = initial
        } else {
            let spec =
                model == "mlp256"
                ? ModelSpec(kind: .mlp, inputs: 64, hidden: [256], outputs: 10) : ModelSpec(kind: .softmaxRegression, inputs: 64, outputs: 10)
            aggregator["model"] = try JSONSerialization.jsonObject(with: Data(spec.jsonString().utf8))
        }
        let aggregatorConfig = work + "/aggregator.json"
        try JSONSerialization.data(withJSONObject: aggregator, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: aggregatorConfig))

        let broker = ["--host", "127.0.0.1", "--port", "\(port)"]
        let agents = try (0..<10).map { k in
            [try siblingExecutable("fedmq-agent", in: executables), "--agent", "agent-\(k)", "--job", Self.job] + broker
                + ["--data", "\(data)/\(split)/client_\(k).csv", "--state-dir", "\(work)/agent-\(k)", "--seed", "\(k)"]
                + (topK.map { ["--top-k", "\($0)"] } ?? [])
        }
        let spec: [String: Any] = [
            "port": port, "job": Self.job, "logs": work + "/logs", "metrics": work + "/aggregator/metrics.jsonl",
            "broker": [try Programs.path(of: "mosquitto"), "-c", brokerConfig],
            "aggregator": [try siblingExecutable("fedmq-aggregator", in: executables), "--config", aggregatorConfig] + broker,
            "agents": agents,
        ]
        specPath = work + "/spec.json"
        try JSONSerialization.data(withJSONObject: spec, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: specPath))
    }

    /// Every number of a comma-separated file of floats, row after row.
    static func numbers(in path: String) throws -> [Float] {
        try String(contentsOfFile: path, encoding: .utf8).split(whereSeparator: { $0 == "," || $0.isNewline }).map { cell in
            guard let value = Float(cell.trimmingCharacters(in: .whitespaces)) else { throw CommandFailure("\(path): '\(cell)' is not a number") }
            return value
        }
    }
}
