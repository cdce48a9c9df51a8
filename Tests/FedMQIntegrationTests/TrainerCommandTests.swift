import FedMQAgent
import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import Foundation
import Testing

/// Agents that train with an external program (`trainer` in their config): the shipped numpy
/// example trainer in a real job, and trainers that fail, hang or write nothing.
@Suite("External trainer commands with real processes", .hangGuard)
struct TrainerCommandTests {
    /// An agent config that trains with `command`, written into the job's folder.
    func agentConfig(_ job: FederatedJob, index: Int, command: [String], timeout: Double = 120) throws -> String {
        let path = job.directory.appendingPathComponent("agent-\(index).json").path
        let config: [String: Any] = [
            "agent": "a\(index)", "job": job.job, "broker": ["host": "127.0.0.1", "port": job.port], "seed": index,
            "data_csv": job.directory.appendingPathComponent("client_\(index).csv").path,
            "state_directory": job.directory.appendingPathComponent("agent-\(index)").path,
            "trainer": ["command": command, "timeout_seconds": timeout],
        ]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Agent `index` training with `command`; the repository's `.venv` (numpy, safetensors) comes
    /// first in its PATH, as the example trainer's `#!/usr/bin/env python3` needs.
    func startAgent(_ job: FederatedJob, index: Int, command: [String], timeout: Double = 120) throws -> ChildProcess {
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = repositoryFile(".venv/bin") + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        return try ChildProcess(
            try executable("fedmq-agent").path,
            ["--config", try agentConfig(job, index: index, command: command, timeout: timeout), "--log-level", "debug"],
            logFile: job.directory.appendingPathComponent("agent-\(index).log").path, environment: environment)
    }

    /// The shipped example trainer, run as a program (by its shebang).
    var trainer: [String] { [repositoryFile("deploy/examples/trainer/numpy_trainer.py")] }

    @Test("two agents train with the numpy example trainer: every round closes with both, and the model learns")
    func numpyTrainer() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(broker: broker, job: "external", agents: 2, rounds: 3, target: 2, minimum: 2)
            let aggregator = try job.startAggregator()
            let agents = try (0..<2).map { try startAgent(job, index: $0, command: trainer) }
            let status = try await within(.seconds(120), "the job to finish") { try await aggregator.wait() }
            for agent in agents { await agent.stop() }
            #expect(status == 0, "\(job.log("aggregator").suffix(2000))\n\(job.log("agent-0").suffix(2000))")
            let metrics = try job.metrics()
            #expect(metrics.map(\.round) == [1, 2, 3])
            #expect(metrics.allSatisfy { $0.participants == ["a0", "a1"] && $0.rejected.isEmpty }, "\(metrics)")
            #expect(try #require(metrics.last?.accuracy) > 0.8, "\(metrics.map { $0.accuracy ?? 0 })")
            // The work folder is the agent's alone and says what the program was asked to do.
            let work = job.directory.appendingPathComponent("agent-0/trainer")
            let attributes = try FileManager.default.attributesOfItem(atPath: work.path)
            #expect((attributes[.posixPermissions] as? Int) == 0o700)
            let round = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: work.appendingPathComponent("round-3/round.json"))) as? [String: Any])
            #expect(round["schema"] as? String == "fedmq.trainer-round/1" && round["round"] as? Int == 3)
            #expect((round["tensors"] as? [[String: Any]])?.map { $0["name"] as? String } == ["W1", "b1", "W2", "b2"])
            #expect(!FileManager.default.fileExists(atPath: work.appendingPathComponent("round-2").path), "earlier rounds are not kept")
            #expect(job.log("agent-0").contains("trainer finished") && job.log("agent-0").contains("train_loss"))
        }
    }

    @Test("a trainer that fails, hangs past its timeout or writes no model: the round is given up, the status names why, nothing is left running")
    func failingTrainers() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(broker: broker, job: "failing", agents: 3, rounds: 1, target: 3, minimum: 3)
            let topics = try Topics(job: "failing")
            let watcher = try await connectedClient(clientOptions(broker))
            let statuses = try await watcher.subscribe(to: [topics.allStatuses], qos: .atLeastOnce)
            let aggregator = try job.startAggregator()
            let marker = job.directory.path
            let agents = [
                try startAgent(job, index: 0, command: trainer + ["--fail"]),
                try startAgent(job, index: 1, command: trainer + ["--hang", marker], timeout: 1),
                try startAgent(
                    job, index: 2, command: ["python3", "-c", #"open("result.json", "w").write('{"examples": 5}')"#]),
            ]
            let errors = try await within(.seconds(60), "three agents to report their trainers' failures") {
                var errors: [String: String] = [:]
                for await message in statuses {
                    guard let status = try? ProtocolJSON.decode(AgentStatus.self, from: message.payload), let error = status.lastError else {
                        continue
                    }
                    errors[status.agent] = error
                    if errors.count == 3 { break }
                }
                return errors
            }
            #expect(errors["a0"]?.contains("the trainer exited with status 3: asked to fail (--fail)") == true, "\(errors)")
            #expect(errors["a1"]?.contains("the trainer did not finish within 1.0 s and was stopped") == true, "\(errors)")
            #expect(errors["a2"]?.contains("the trainer wrote no") == true && errors["a2"]?.contains("trained.safetensors") == true, "\(errors)")
            // The hanging trainer's process group is gone.
            #expect(processes(mentioning: marker).filter { $0.contains("--hang") }.isEmpty)
            for agent in agents { await agent.stop() }
            await aggregator.stop()
            await watcher.disconnect()
        }
    }

    @Test(
        "the example trainers refuse, by name, settings of a round they do not implement rather than train otherwise than asked",
        arguments: ["deploy/examples/trainer/numpy_trainer.py", "deploy/examples/trainer/numpy_cnn.py"])
    func examplesRefuseUnsupportedSettings(script: String) async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-refusal-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let round: [String: Any] = [
            "schema": "fedmq.trainer-round/1", "round": 1, "seed": 0, "model_spec": ["kind": "external"],
            "training": ["learning_rate": 0.1, "batch_size": 8, "epochs": 1, "proximal_mu": 0.01, "weight_decay": 0],
            "global_model": "global.safetensors", "trained_model": "trained.safetensors", "result": "result.json",
        ]
        try JSONSerialization.data(withJSONObject: round).write(to: URL(fileURLWithPath: work + "/round.json"))
        var environment = ProcessInfo.processInfo.environment
        environment["FEDMQ_WORK_DIR"] = work
        let run = try await runToEnd(
            repositoryFile(".venv/bin/python3"), [repositoryFile(script)] + (script.hasSuffix("cnn.py") ? ["train"] : []),
            log: work + "/trainer.log", environment: environment)
        #expect(run.status != 0 && run.output.contains("this trainer does not implement proximal_mu"), "\(run.output)")
        #expect(!FileManager.default.fileExists(atPath: work + "/trained.safetensors"))
    }

    @Test("a trainer holds none of its agent's descriptors (no broker socket); an agent stopped while it runs stops its process group too")
    func shutdownStopsTrainer() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(broker: broker, job: "stopped", agents: 1, rounds: 1, target: 1, minimum: 1)
            let aggregator = try job.startAggregator()
            let marker = job.directory.path
            let agent = try startAgent(job, index: 0, command: trainer + ["--hang", marker], timeout: 600)
            try await eventually("the trainer to run") { !processes(mentioning: marker).filter { $0.contains("--hang") }.isEmpty }
            // libmosquitto opens the broker socket and its wake-up pipe without close-on-exec.
            for (pid, _) in processTable(mentioning: marker).filter({ $0.commandLine.contains("--hang") }) {
                let sockets = openDescriptors(of: pid).filter { $0.hasPrefix("socket:") }
                #expect(sockets.isEmpty, "the trainer (pid \(pid)) holds \(sockets)")
            }
            #expect(await agent.stop() == 0)
            #expect(processes(mentioning: marker).filter { $0.contains("--hang") }.isEmpty)
            await aggregator.stop()
        }
    }
}
