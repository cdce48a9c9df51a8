import FedMQLocalBroker
import FedMQProtocol
import Foundation
import Testing

/// The aggregator's state directory after an operator's mistake: the real `fedmq-aggregator`.
@Suite("An aggregator's incomplete state directory", .hangGuard)
struct StateDirectoryTests {
    @Test("a state directory with metrics and models but no checkpoint is refused with the path; --reset moves them aside and starts over")
    func missingCheckpoint() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(broker: broker, job: "nocheckpoint", agents: 1, rounds: 2, target: 1, minimum: 1)
            let state = URL(fileURLWithPath: job.stateDirectory)
            try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
            let metrics = Array(#"{"schema":"fedmq.metrics/1","round":12}"#.utf8) + [10]
            try Data(metrics).write(to: state.appendingPathComponent("metrics.jsonl"))
            try Data([1, 2, 3]).write(to: state.appendingPathComponent("model-\(String(repeating: "a", count: 64)).safetensors"))

            let refused = try job.startAggregator()
            let status = try await within(.seconds(30), "the aggregator to refuse") { try await refused.wait() }
            #expect(status != 0)
            let log = job.log("aggregator")
            #expect(log.contains(job.checkpointPath), "\(log.suffix(1000))")
            #expect(log.contains("metrics.jsonl") && log.contains("--reset"))
            // Nothing was touched.
            #expect(try Data(contentsOf: state.appendingPathComponent("metrics.jsonl")) == Data(metrics))

            let reset = try job.startAggregator(extra: ["--reset"])
            try await eventually("a fresh checkpoint") {
                FileManager.default.fileExists(atPath: job.checkpointPath)
            }
            await reset.stop()
            let aside = try #require(try FileManager.default.contentsOfDirectory(atPath: state.path).first { $0.hasPrefix("discarded-") })
            #expect(try Data(contentsOf: state.appendingPathComponent("\(aside)/metrics.jsonl")) == Data(metrics))
            #expect(!FileManager.default.fileExists(atPath: state.appendingPathComponent("metrics.jsonl").path))
        }
    }

    @Test("a checkpoint file cut short: the error names it")
    func truncatedCheckpoint() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(broker: broker, job: "truncated", agents: 1, rounds: 2, target: 1, minimum: 1)
            try await job.runUntilFirstCheckpoint()
            let bytes = try Data(contentsOf: URL(fileURLWithPath: job.checkpointPath))
            try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: job.checkpointPath))

            let restarted = try job.startAggregator()
            let status = try await within(.seconds(30), "the aggregator to refuse") { try await restarted.wait() }
            #expect(status != 0)
            let log = job.log("aggregator")
            #expect(log.contains(job.checkpointPath) && log.contains("cut short"), "\(log.suffix(1000))")
        }
    }

    @Test("a state directory of the earlier layout (checkpoint.json and a model file) resumes its round; the next checkpoint replaces both files")
    func earlierLayout() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(broker: broker, job: "upgrade", agents: 1, rounds: 2, target: 1, minimum: 1)
            try await job.runUntilFirstCheckpoint()
            // Rewrite the state as the earlier version kept it.
            let saved = try #require(try job.savedCheckpoint())
            let legacy = job.stateDirectory + "/checkpoint.json"
            let modelFile = job.stateDirectory + "/model-\(saved.checkpoint.modelSHA256).safetensors"
            try Data(ProtocolJSON.encode(saved.checkpoint)).write(to: URL(fileURLWithPath: legacy))
            try Data(saved.model).write(to: URL(fileURLWithPath: modelFile))
            try FileManager.default.removeItem(atPath: job.checkpointPath)

            // A model file cut short is named.
            try Data(saved.model.prefix(saved.model.count / 2)).write(to: URL(fileURLWithPath: modelFile))
            let refused = try job.startAggregator()
            #expect(try await within(.seconds(30), "the aggregator to refuse") { try await refused.wait() } != 0)
            #expect(job.log("aggregator").contains(modelFile), "\(job.log("aggregator").suffix(1000))")

            try Data(saved.model).write(to: URL(fileURLWithPath: modelFile))
            let resumed = try job.startAggregator()
            let agent = try job.startAgent(0)
            let status = try await within(.seconds(60), "the job to finish") { try await resumed.wait() }
            await agent.stop()
            #expect(status == 0, "\(job.log("aggregator").suffix(1500))")
            #expect(job.log("aggregator").contains("resumed round 1"), "\(job.log("aggregator").suffix(1500))")
            #expect(try job.metrics().map(\.round) == [1, 2])
            #expect(try job.savedCheckpoint()?.checkpoint.finished == true)
            let left = try FileManager.default.contentsOfDirectory(atPath: job.stateDirectory)
            #expect(!left.contains("checkpoint.json") && !left.contains { $0.hasPrefix("model-") }, "\(left)")
        }
    }
}
