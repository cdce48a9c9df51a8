import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import Foundation
import Testing

/// A model FedMQ does not know, end to end with real processes: the numpy 1D-CNN example's
/// weights imported with `fedmq model import --external`, trained by the agents' trainer
/// command and evaluated by the aggregator's evaluation command, on BasicMotions.
@Suite("An external model with real processes", .hangGuard)
struct ExternalModelJobTests {
    let script = repositoryFile("deploy/examples/trainer/numpy_cnn.py")

    /// This process's environment with the repository's `.venv` (numpy, safetensors) first in
    /// `PATH`, as the example's `#!/usr/bin/env python3` needs.
    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = repositoryFile(".venv/bin") + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        return environment
    }

    @Test("imported CNN weights train on two agents and are evaluated by the command: every round counts both and reports accuracy")
    func cnnJob() async throws {
        try await withLocalBroker { broker in
            let directory = broker.directory.appendingPathComponent("motions").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let train = try CSVReader.read(
                file: repositoryFile("data/basic_motions_train.csv"), options: CSVOptions(hasHeader: true, label: .name("label")))
            for (index, rows) in try Partitioner.iid.partition(train, clients: 2, classes: 4, seed: 0).enumerated() {
                try CSVWriter.write(train.subset(rows), to: directory + "/agent-\(index).csv", label: "label")
            }
            // The framework's initial weights, then FedMQ's initial model made of them.
            let initial = try await runToEnd(
                script, ["init", directory + "/cnn.safetensors", "--channels", "6", "--classes", "4"], log: directory + "/init.log",
                environment: environment)
            #expect(initial.status == 0, "\(initial.output)")
            let imported = try await runToEnd(
                try fedmqExecutable().path,
                [
                    "model", "import", "--weights", directory + "/cnn.safetensors", "--external", "--job", "motions", "--out",
                    directory + "/initial.safetensors",
                ],
                log: directory + "/import.log")
            #expect(imported.status == 0 && imported.output.contains("external model, 284 parameters in 4 tensors"), "\(imported.output)")

            let policy = RoundPolicy(
                rounds: 3, targetUpdates: 2, minUpdates: 2, roundSeconds: 120, extensionSeconds: 30, maxUpdateBytes: 1 << 20,
                training: TrainingConfig(learningRate: 0.05, momentum: 0.9, batchSize: 8, epochs: 5), weighting: .examples)
            let aggregatorConfig: [String: Any] = [
                "job": "motions", "broker": ["host": "127.0.0.1", "port": broker.port], "initial_model": directory + "/initial.safetensors",
                "policy": try JSONSerialization.jsonObject(with: Data(ProtocolJSON.encode(policy))),
                "evaluation_csv": repositoryFile("data/basic_motions_test.csv"),
                "evaluation_command": ["command": [script, "evaluate"], "timeout_seconds": 60],
                "state_directory": directory + "/aggregator",
            ]
            try JSONSerialization.data(withJSONObject: aggregatorConfig).write(to: URL(fileURLWithPath: directory + "/aggregator.json"))
            let aggregator = try ChildProcess(
                try executable("fedmq-aggregator").path, ["--config", directory + "/aggregator.json", "--log-level", "debug"],
                logFile: directory + "/aggregator.log", environment: environment)
            let agents = try (0..<2).map { index in
                let config: [String: Any] = [
                    "agent": "a\(index)", "job": "motions", "broker": ["host": "127.0.0.1", "port": broker.port], "seed": index,
                    "data_csv": directory + "/agent-\(index).csv", "data_label": "label", "state_directory": directory + "/agent-\(index)",
                    "trainer": ["command": [script, "train"], "timeout_seconds": 120],
                ]
                try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: directory + "/agent-\(index).json"))
                return try ChildProcess(
                    try executable("fedmq-agent").path, ["--config", directory + "/agent-\(index).json", "--log-level", "debug"],
                    logFile: directory + "/agent-\(index).log", environment: environment)
            }
            let status = try await within(.seconds(150), "the job to finish") { try await aggregator.wait() }
            for agent in agents { await agent.stop() }
            let log = { (name: String) in (try? String(contentsOfFile: directory + "/\(name).log", encoding: .utf8)) ?? "" }
            #expect(status == 0, "\(log("aggregator").suffix(3000))\n\(log("agent-0").suffix(2000))")

            let metrics = try String(contentsOfFile: directory + "/aggregator/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
                try ProtocolJSON.decode(RoundMetrics.self, from: Array($0.utf8))
            }
            #expect(metrics.map(\.round) == [1, 2, 3])
            #expect(metrics.allSatisfy { $0.participants == ["a0", "a1"] && $0.rejected.isEmpty }, "\(metrics)")
            // The command evaluated every round's model on the 40 test windows; the CNN learns the four motions.
            #expect(metrics.allSatisfy { $0.accuracy != nil && $0.loss != nil }, "\(metrics)")
            #expect(try #require(metrics.last?.accuracy) >= 0.8, "\(metrics.map { $0.accuracy ?? -1 })")
            #expect(FileManager.default.fileExists(atPath: directory + "/aggregator/evaluation/evaluation.json"))
            // The agents' trainer saw the external spec and the framework's own tensor names.
            let round = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/agent-0/trainer/round-3/round.json")))
                    as? [String: Any])
            #expect((round["model_spec"] as? [String: Any])?["kind"] as? String == "external")
            #expect(
                Set((round["tensors"] as? [[String: Any]])?.compactMap { $0["name"] as? String } ?? []) == [
                    "conv.weight", "conv.bias", "fc.weight", "fc.bias",
                ])
        }
    }

    @Test("an aggregator refuses to evaluate an external model natively, and an agent without a trainer says it needs one")
    func nativeToolsRefuse() async throws {
        try await withLocalBroker { broker in
            let directory = broker.directory.appendingPathComponent("refusals").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let spec = ModelSpec(external: [TensorSpec(name: "w", shape: [3, 2])])
            let model = ModelCodec.encodeModel(try Parameters([Tensor(zeros: [3, 2], name: "w")]), spec: spec, job: "refusals", round: 0)
            try Data(model).write(to: URL(fileURLWithPath: directory + "/initial.safetensors"))
            try "1,2,3,0\n3,2,1,1\n".write(toFile: directory + "/data.csv", atomically: true, encoding: .utf8)
            let policy = try JSONSerialization.jsonObject(
                with: Data(ProtocolJSON.encode(RoundPolicy(rounds: 1, targetUpdates: 1, minUpdates: 1, roundSeconds: 60))))
            var config: [String: Any] = [
                "job": "refusals", "broker": ["host": "127.0.0.1", "port": broker.port], "initial_model": directory + "/initial.safetensors",
                "policy": policy, "evaluation_csv": directory + "/data.csv", "state_directory": directory + "/refused",
            ]
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: directory + "/refused.json"))
            let refused = try await runToEnd(
                try executable("fedmq-aggregator").path, ["--config", directory + "/refused.json"], log: directory + "/refused.log")
            #expect(
                refused.status != 0 && refused.output.contains("FedMQ cannot evaluate a model of kind external natively; give an evaluation_command"),
                "\(refused.output)")

            config["evaluation_csv"] = nil
            config["state_directory"] = directory + "/aggregator"
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: directory + "/aggregator.json"))
            let aggregator = try ChildProcess(
                try executable("fedmq-aggregator").path, ["--config", directory + "/aggregator.json"], logFile: directory + "/aggregator.log")
            let agent = try ChildProcess(
                try executable("fedmq-agent").path,
                [
                    "--agent", "a0", "--job", "refusals", "--data", directory + "/data.csv", "--state-dir", directory + "/agent", "--port",
                    "\(broker.port)",
                ],
                logFile: directory + "/agent.log")
            try await eventually("the agent to give the round up") {
                ((try? String(contentsOfFile: directory + "/agent.log", encoding: .utf8)) ?? "").contains("round 1 refused")
            }
            let agentLog = (try? String(contentsOfFile: directory + "/agent.log", encoding: .utf8)) ?? ""
            #expect(agentLog.contains("an external model is trained by a trainer command (an agent's 'trainer')"), "\(agentLog)")
            await agent.stop()
            await aggregator.stop()
        }
    }
}

@Suite("fedmq predict with an autoencoder")
struct AutoencoderPredictTests {
    @Test("each line is the row's reconstruction error, and with --threshold its anomaly flag")
    func reconstructionErrors() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-predict-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var spec = ModelSpec(layers: [.dense(units: 2)], inputs: 2, outputs: 2)
        spec.objective = .reconstruction
        // Zero weights reconstruct every row as zeros: the error is the mean of the squared inputs.
        let model = ModelCodec.encodeModel(try spec.initialParameters(seed: 0).zeros(), spec: spec, job: "plant", round: 4)
        try Data(model).write(to: URL(fileURLWithPath: directory + "/model.safetensors"))
        try "1,1\n0,2\n3,1\n".write(toFile: directory + "/rows.csv", atomically: true, encoding: .utf8)
        let run = try await runToEnd(
            try fedmqExecutable().path,
            [
                "predict", "--model", directory + "/model.safetensors", "--data", directory + "/rows.csv", "--threshold", "1.5", "--out",
                directory + "/out.txt",
            ],
            log: directory + "/predict.log")
        #expect(run.status == 0, "\(run.output)")
        #expect(try String(contentsOfFile: directory + "/out.txt", encoding: .utf8) == "1.0,0\n2.0,1\n5.0,1\n")
        let classifier = ModelSpec(kind: .softmaxRegression, inputs: 2, outputs: 2)
        try Data(ModelCodec.encodeModel(try classifier.initialParameters(seed: 0), spec: classifier, job: "plant", round: 1)).write(
            to: URL(fileURLWithPath: directory + "/classifier.safetensors"))
        let refused = try await runToEnd(
            try fedmqExecutable().path,
            ["predict", "--model", directory + "/classifier.safetensors", "--data", directory + "/rows.csv", "--threshold", "1.5"],
            log: directory + "/refused.log")
        #expect(refused.status != 0 && refused.output.contains("--threshold is for an autoencoder"), "\(refused.output)")
    }
}
