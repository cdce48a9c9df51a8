import FedMQCore
import FedMQProcess
import FedMQProtocol
import FedMQRuntime
import Foundation
import Testing

@testable import FedMQAggregator

/// The aggregator's evaluation command run for real (shell programs), and an agent with an
/// external trainer in a DP-SGD job.
@Suite("Evaluation commands and external trainers", .hangGuard)
struct ExternalProgramTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-evaluation-\(UUID().uuidString)").path
    let spec = ModelSpec(external: [TensorSpec(name: "w", shape: [2])])

    /// Runs `script` (sh) as the evaluation command of a model with w = [1, 2].
    func evaluate(_ script: String, timeout: Double = 30) throws -> Result<Evaluation, ProgramRun.Failure> {
        let command = EvaluationCommand(
            command: ExternalCommand(command: ["/bin/sh", "-c", script], timeoutSeconds: timeout), directory: directory, job: "motions", spec: spec)
        return command.evaluate(try Parameters([try Tensor(name: "w", shape: [2], values: [1, 2])]))
    }

    @Test("the program finds the model with its spec in a private folder, and its evaluation.json is the round's evaluation")
    func success() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // It copies what it was given aside (the folder is emptied before each run) and answers.
        let keep = directory + "-given.safetensors"
        defer { try? FileManager.default.removeItem(atPath: keep) }
        let result = try evaluate(
            #"cp model.safetensors "# + keep
                + #" && echo '{"examples": 40, "loss": 0.25, "accuracy": 0.9, "confusion": [[20, 2], [2, 16]]}' > "$FEDMQ_WORK_DIR/evaluation.json""#
        )
        let evaluation = try result.get()
        #expect(evaluation.examples == 40 && evaluation.loss == 0.25 && evaluation.accuracy == 0.9)
        #expect(evaluation.confusion == [[20, 2], [2, 16]] && evaluation.meanAbsoluteError == nil)
        let given = try SafetensorsDecoder.decode(try DurableFile.read(keep))
        #expect(given.tensors.map(\.values) == [[1, 2]])
        #expect(given.metadata[ModelCodec.Key.job] == "motions")
        #expect(try ModelSpec.parse(given.metadata[ModelCodec.Key.modelSpec] ?? "") == spec)
        let mode = try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int
        #expect(mode == 0o700)
    }

    @Test(
        "a program that fails, hangs, writes nothing or writes nonsense gives no evaluation, and the reason names it",
        arguments: [
            ("echo broken >&2; exit 3", "the evaluation command exited with status 3: broken"),
            ("exec sleep 30", "the evaluation command did not finish within 0.5 s and was stopped"),
            ("true", "the evaluation command wrote no"),
            (#"echo '{"loss": 1}' > evaluation.json"#, "not {\"examples\": N, \"loss\": L, ...}"),
            (#"echo '{"examples": 0, "loss": 1}' > evaluation.json"#, "examples must be a positive count"),
            (#"echo '{"examples": 4, "loss": 1, "accuracy": 1.5}' > evaluation.json"#, "accuracy must lie in [0, 1], not 1.5"),
            (#"echo '{"examples": 4, "loss": 1, "mae": -1}' > evaluation.json"#, "mae must be a finite, non-negative number"),
            (#"echo '{"examples": 4, "loss": 1, "confusion": [[1, 1], [1]]}' > evaluation.json"#, "confusion must be a square matrix"),
            (#"echo '{"examples": 4, "loss": 1, "confusion": [[1, 1], [1, 2]]}' > evaluation.json"#, "confusion must be a square matrix"),
            // Counts whose sum would overflow are refused, not added up.
            (
                #"echo '{"examples": 4, "loss": 1, "confusion": [[4611686018427387904, 4611686018427387904], [4611686018427387904, 4611686018427387904]]}' > evaluation.json"#,
                "confusion must be a square matrix"
            ),
        ])
    func failures(script: String, reason: String) throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try evaluate(script, timeout: 0.5)
        guard case .failure(let failure) = result else {
            Issue.record("evaluated: \(result)")
            return
        }
        #expect(failure.description.contains(reason), "\(failure)")
    }

    @Test("an agent with an external trainer sits out a DP-SGD round, since nobody can tell its program ran DP-SGD; its status says why")
    func externalTrainerRefusesDPSGD() async throws {
        let fleet = try RuntimeFleet()
        var config = try fleet.agentConfig(0)
        let marker = fleet.path("trainer-ran")
        config.trainer = ExternalCommand(command: ["/bin/sh", "-c", "touch " + marker + "; exit 1"])
        var policy = fleet.policy(rounds: 1, target: 1, minimum: 1)
        policy.training.dpSGD = DPSGDConfig(clipNorm: 1, noiseMultiplier: 1.1, samplingRate: 0.5)
        let aggregator = fleet.aggregator(fleet.aggregatorConfig(policy: policy))
        let agent = fleet.agent(config)
        await fleet.logs.wait(from: "a0", containing: "round 1 refused")
        let status = try #require(try fleet.retained(AgentStatus.self, on: fleet.topics.status(agent: "a0")))
        #expect(
            status.lastError?.contains("the round asks for DP-SGD, which only FedMQ's own trainer runs") == true,
            "\(String(describing: status.lastError))")
        #expect(!FileManager.default.fileExists(atPath: marker), "the trainer must not run")
        #expect(status.lastRound == 0)
        try await agent.stop()
        try await aggregator.stop()
    }
}
