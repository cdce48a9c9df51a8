import FedMQLocalBroker
import FedMQProtocol
import Foundation
import Testing

/// The aggregator's state directory after an operator's mistake: the real `fedmq-aggregator`.
@Suite("An aggregator's incomplete state directory", .timeLimit(.minutes(2)))
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
            #expect(log.contains(state.appendingPathComponent("checkpoint.json").path), "\(log.suffix(1000))")
            #expect(log.contains("metrics.jsonl") && log.contains("--reset"))
            // Nothing was touched.
            #expect(try Data(contentsOf: state.appendingPathComponent("metrics.jsonl")) == Data(metrics))

            let reset = try job.startAggregator(extra: ["--reset"])
            try await eventually("a fresh checkpoint") {
                FileManager.default.fileExists(atPath: state.appendingPathComponent("checkpoint.json").path)
            }
            await reset.stop()
            let aside = try #require(try FileManager.default.contentsOfDirectory(atPath: state.path).first { $0.hasPrefix("discarded-") })
            #expect(try Data(contentsOf: state.appendingPathComponent("\(aside)/metrics.jsonl")) == Data(metrics))
            #expect(!FileManager.default.fileExists(atPath: state.appendingPathComponent("metrics.jsonl").path))
        }
    }

    @Test("a checkpoint whose model file is cut short: the error names the model file")
    func truncatedModel() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(broker: broker, job: "truncated", agents: 1, rounds: 2, target: 1, minimum: 1)
            let first = try job.startAggregator()
            let checkpoint = URL(fileURLWithPath: job.stateDirectory).appendingPathComponent("checkpoint.json")
            try await eventually("the first checkpoint") { FileManager.default.fileExists(atPath: checkpoint.path) }
            await first.stop()
            let saved = try JSONDecoder().decode(AggregatorCheckpoint.self, from: try Data(contentsOf: checkpoint))
            let model = URL(fileURLWithPath: job.stateDirectory).appendingPathComponent("model-\(saved.modelSHA256).safetensors")
            let bytes = try Data(contentsOf: model)
            try bytes.prefix(bytes.count / 2).write(to: model)

            let restarted = try job.startAggregator()
            let status = try await within(.seconds(30), "the aggregator to refuse") { try await restarted.wait() }
            #expect(status != 0)
            #expect(job.log("aggregator").contains(model.path), "\(job.log("aggregator").suffix(1000))")
        }
    }
}
