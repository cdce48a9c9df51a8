import FedMQLocalBroker
import Foundation
import Testing

@Suite("fedmq simulate: many agents in worker processes against a real aggregator", .hangGuard)
struct SimulateTests {
    @Test("30 agents x 4 rounds in 3 workers: every update counts, every round's latency and every process's usage are reported")
    func simulate() async throws {
        let output = try await simulate(["--agents", "30", "--rounds", "4", "--agents-per-process", "10"], rounds: 4)
        #expect(output.contains("updates counted 120 of 120, rejected 0"), "\(output.suffix(2000))")
        #expect(output.contains("one broker"))
        #expect(output.contains("agents (3 workers): 3 process(es)"), "\(output.suffix(2000))")
        #expect(output.contains("central broker: 1 process(es)"))
        #expect(!output.contains("site brokers:"))
    }

    @Test("24 agents on 2 site brokers bridged to the central one: every update crosses a bridge and counts once")
    func bridgedSites() async throws {
        let output = try await simulate(["--agents", "24", "--rounds", "3", "--sites", "2", "--agents-per-process", "8"], rounds: 3)
        #expect(output.contains("updates counted 72 of 72, rejected 0"), "\(output.suffix(2000))")
        #expect(output.contains("2 site brokers bridged to a central one"))
        #expect(output.contains("site brokers: 2 process(es)"), "\(output.suffix(2000))")
        #expect(output.contains("agents (4 workers): 4 process(es)"), "\(output.suffix(2000))")
    }

    @Test("24 agents on 2 sites with site aggregators: the central aggregator takes 2 partials per round and counts every agent's update once")
    func siteAggregators() async throws {
        let output = try await simulate(
            ["--agents", "24", "--rounds", "3", "--sites", "2", "--site-aggregators", "--agents-per-process", "8"], rounds: 3)
        #expect(output.contains("updates counted 72 of 72, rejected 0"), "\(output.suffix(2000))")
        #expect(output.contains("central aggregator ingest per round: max 2 messages"), "\(output.suffix(2000))")
        #expect(output.contains("site aggregators: 2 process(es)"), "\(output.suffix(2000))")
    }

    @Test("30 agents on one broker with 2 ingest shards sharing the updates: every agent's update counts once, in 2 partials per round")
    func ingestShards() async throws {
        let output = try await simulate(["--agents", "30", "--rounds", "3", "--ingest-shards", "2", "--agents-per-process", "10"], rounds: 3)
        #expect(output.contains("updates counted 90 of 90, rejected 0"), "\(output.suffix(2000))")
        #expect(output.contains("central aggregator ingest per round: max 2 messages"), "\(output.suffix(2000))")
        #expect(output.contains("ingest shards: 2 process(es)"), "\(output.suffix(2000))")
    }

    @Test(
        "flags a simulation cannot honour are refused by name before anything starts",
        arguments: [
            (["simulate", "--sites", "2", "--broker", "127.0.0.1:1883"], "--sites starts its own brokers"),
            (["simulate", "--site-aggregators"], "--site-aggregators needs --sites"),
            (["simulate", "--ingest-shards", "2", "--sites", "2"], "--ingest-shards must be within 0...8, on one broker"),
            (["simulate", "--agents-per-process", "301"], "--agents-per-process within 1...300"),
            (["simulate", "--agents", "20001"], "--agents must be within 1...20000"),
            (
                ["simulate-agents", "--broker", "nowhere", "--first", "0", "--count", "1", "--data", "d.csv", "--state-directory", "s"],
                "--broker must be HOST:PORT"
            ),
            (
                ["simulate-agents", "--broker", "127.0.0.1:1883", "--first", "0", "--count", "301", "--data", "d.csv", "--state-directory", "s"],
                "--count within 1...300"
            ),
        ])
    func refusedFlags(arguments: [String], message: String) async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-simulate-flags-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let process = try ChildProcess(try fedmqExecutable().path, arguments, logFile: log)
        let status = try await within(.seconds(30), "fedmq \(arguments[0])") { try await process.wait() }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status == 64, "\(output)")
        #expect(output.contains(message), "\(output)")
    }

    /// Runs `fedmq simulate` with a small model and `arguments`; checks it succeeded and
    /// reported every round, and returns its output.
    private func simulate(_ arguments: [String], rounds: Int) async throws -> String {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-simulate-test-\(UUID().uuidString)")
        let log = work.path + ".log"
        defer {
            try? FileManager.default.removeItem(at: work)
            try? FileManager.default.removeItem(atPath: log)
        }
        let process = try ChildProcess(
            try fedmqExecutable().path, ["simulate", "--inputs", "20", "--outputs", "5", "--work-dir", work.path] + arguments, logFile: log)
        let status = try await within(.seconds(150), "fedmq simulate") { try await process.wait() }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(output.suffix(2000))")
        for round in 1...rounds { #expect(output.contains(String(format: "round %4d ", round))) }
        #expect(output.contains("latency p50 "))
        let metrics = try String(contentsOf: work.appendingPathComponent("aggregator/metrics.jsonl"), encoding: .utf8)
        #expect(metrics.split(separator: "\n").count == rounds)
        return output
    }
}
