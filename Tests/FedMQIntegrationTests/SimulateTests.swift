import FedMQLocalBroker
import Foundation
import Testing

@Suite("fedmq simulate: many agents in one process against a real aggregator", .timeLimit(.minutes(2)))
struct SimulateTests {
    @Test("30 agents x 4 rounds: every update counts, every round's latency is reported, the aggregator's memory is reported")
    func simulate() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-simulate-test-\(UUID().uuidString)")
        let log = work.path + ".log"
        let process = try ChildProcess(
            try fedmqExecutable().path, ["simulate", "--agents", "30", "--rounds", "4", "--inputs", "20", "--outputs", "5", "--work-dir", work.path],
            logFile: log)
        let status = try await within(.seconds(90), "fedmq simulate") { try await process.wait() }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(output.suffix(2000))")
        #expect(output.contains("updates counted 120 of 120, rejected 0"), "\(output.suffix(2000))")
        for round in 1...4 { #expect(output.contains(String(format: "round %4d ", round))) }
        #expect(output.contains("latency p50 "))
        let metrics = try String(contentsOf: work.appendingPathComponent("aggregator/metrics.jsonl"), encoding: .utf8)
        #expect(metrics.split(separator: "\n").count == 4)
        try? FileManager.default.removeItem(at: work)
        try? FileManager.default.removeItem(atPath: log)
    }
}
