import FedMQCore
import FedMQProtocol
import Foundation
import Testing

/// Parity with the shared benchmark task "digits-fedavg-10" (bench/task/TASK.md), whose data
/// `bench/generate_task_data.py` generated with the task's own code.
@Suite("Benchmark task parity")
struct TaskParityTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("bench/task")

    static func path(_ name: String) -> String { root.appendingPathComponent(name).path }

    @Test("the committed task data match the manifest's sha256 and row counts")
    func dataMatchManifest() throws {
        let manifest = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.path("manifest.json")))) as? [String: Any])
        let files = try #require(manifest["files"] as? [String: String])
        #expect(files.count == 25)
        for (name, expected) in files {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Self.path("data/\(name)"))))
            #expect(ModelCodec.sha256(bytes) == expected, "\(name)")
        }
        let iid = try #require(manifest["iid"] as? [[String: Any]])
        for (k, client) in iid.enumerated() {
            #expect(try readCSV(Self.path("data/iid/client_\(k).csv")).count == client["n"] as? Int)
        }
    }

    @Test("FedAvg, logistic regression, IID, 30 rounds: within 1 point of Flower's 0.9056 and within 2 points of the reference every round")
    func logisticRegressionIID() throws {
        let clients = try (0..<10).map { try readCSV(Self.path("data/iid/client_\($0).csv")) }
        let test = try readCSV(Self.path("data/test.csv"))
        let reference = try JSONDecoder().decode(
            [String: [Double]].self, from: Data(contentsOf: URL(fileURLWithPath: Self.path("reference_logreg_iid.json"))))
        let spec = ModelSpec(kind: .softmaxRegression, inputs: 64, outputs: 10)
        let initial = try spec.initialParameters(seed: 0)
        var accuracy = [try #require(try Evaluation.evaluate(initial, spec: spec, on: test).accuracy)]
        // Seed 0: client k of round r shuffles with SplitMix64(1000·r + k), the task's rule.
        let simulation = FederatedSimulation(
            spec: spec, clients: clients, rounds: 30, training: TrainingConfig(learningRate: 0.1, batchSize: 32, epochs: 1))
        _ = try simulation.run(
            from: initial, strategy: FedAvg(weighting: .examples),
            afterRound: { _, global in accuracy.append(try Evaluation.evaluate(global, spec: spec, on: test).accuracy ?? 0) })
        let expected = try #require(reference["accuracy"])
        #expect(abs(accuracy[30] - 0.9056) <= 0.01, "final accuracy \(accuracy[30])")
        for (round, (ours, theirs)) in zip(accuracy, expected).enumerated() {
            #expect(abs(ours - theirs) <= 0.02, "round \(round): \(ours) vs reference \(theirs)")
        }
    }
}
