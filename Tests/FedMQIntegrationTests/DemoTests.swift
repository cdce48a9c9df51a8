import FedMQAggregator
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import Foundation
import Testing

@Suite("fedmq demo", .hangGuard)
struct DemoTests {
    func directories() -> (out: String, work: String, log: String) {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-demo-test-\(UUID().uuidString)").path
        return (base + "/out", base + "/work", base + ".log")
    }

    @Test("a short demo writes metrics.csv and a chart that renders to PNG, and leaves no process behind")
    func shortDemo() async throws {
        let (out, work, log) = directories()
        let demo = try ChildProcess(
            try fedmqExecutable().path,
            ["demo", "--agents", "3", "--rounds", "3", "--partition", "iid", "--out", out, "--work-dir", work], logFile: log)
        let status = try await within(.seconds(120), "the demo") { try await demo.wait() }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(output)")
        #expect(output.contains("mosquitto_sub -h 127.0.0.1 -p "))
        #expect(output.contains("3 of 3 rounds"))
        let csv = try String(contentsOfFile: out + "/metrics.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 4)
        #expect(csv[0] == "round,participants,rejected,accuracy,loss,epsilon,delta,bytes_received,duration_seconds")
        #expect(csv[3].hasPrefix("3,3,0,0."))
        let png = out + "/report.png"
        let convert = try ChildProcess(try Programs.path(of: "rsvg-convert"), [out + "/report.svg", "-o", png])
        #expect(try await convert.wait() == 0)
        let bytes = try #require(FileManager.default.contents(atPath: png))
        #expect(bytes.count > 5000)
        #expect(Array(bytes.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
        #expect(processes(mentioning: work).isEmpty)
    }

    @Test("fedmq demo --homomorphic: a key holder, encrypted updates, every round decrypted as a sum, no process left behind")
    func homomorphicDemo() async throws {
        let (out, work, log) = directories()
        let demo = try ChildProcess(
            try fedmqExecutable().path,
            ["demo", "--homomorphic", "--agents", "3", "--rounds", "2", "--partition", "iid", "--out", out, "--work-dir", work], logFile: log)
        let status = try await within(.seconds(120), "the demo") { try await demo.wait() }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(output)")
        #expect(output.contains("2 rounds of Paillier-encrypted updates") && output.contains("2 of 2 rounds"), "\(output)")
        #expect(output.contains("the key holder only their sum"), "\(output)")
        let keyholder = (try? String(contentsOfFile: work + "/keyholder.log", encoding: .utf8)) ?? ""
        #expect(keyholder.components(separatedBy: "decrypted the aggregate").count == 3, "\(keyholder)")
        #expect(processes(mentioning: work).isEmpty)
    }

    @Test("fedmq demo --mode asynchronous: versions from buffers, with their staleness, under distributed privacy")
    func asynchronousDemo() async throws {
        let (out, work, log) = directories()
        let demo = try ChildProcess(
            try fedmqExecutable().path,
            ["demo", "--mode", "asynchronous", "--agents", "4", "--buffer", "2", "--rounds", "6", "--out", out, "--work-dir", work],
            logFile: log)
        let status = try await within(.seconds(120), "the demo") { try await demo.wait() }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(output)")
        #expect(output.contains("6 versions from buffers of 2 updates (asynchronous)"))
        #expect(output.contains("staleness") && output.contains("6 of 6 versions"))
        let lines = output.split(separator: "\n").filter { $0.hasPrefix("    6 ") }
        #expect(lines.count == 1 && lines[0].contains(" (max "), "\(output)")
        let aggregator = try String(contentsOfFile: work + "/aggregator.json", encoding: .utf8)
        #expect(aggregator.contains(#""mode" : "asynchronous""#) && aggregator.contains(#""expected_cohort" : 2"#))
        #expect(output.contains("Privacy: epsilon "))
        #expect(processes(mentioning: work).isEmpty)
    }

    @Test("Ctrl-C in the middle stops every process the demo started")
    func interrupted() async throws {
        let (out, work, log) = directories()
        let demo = try ChildProcess(
            try fedmqExecutable().path, ["demo", "--agents", "3", "--rounds", "1000", "--out", out, "--work-dir", work], logFile: log)
        try await eventually("the first rounds") {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("\n    2 ")
        }
        #expect(processes(mentioning: work).count >= 4)
        demo.send(SIGINT)
        let status = try await within(.seconds(60), "the demo to stop") { try await demo.wait() }
        #expect(status == 130)
        #expect(processes(mentioning: work).isEmpty)
        #expect(FileManager.default.fileExists(atPath: out + "/report.svg"))
    }
}

@Suite("fedmq init: a ready local job on the user's data", .hangGuard)
struct InitTests {
    @Test("init on a CSV with a label column writes a job whose run.sh runs every round with every agent, and stops what it started")
    func runsAsWritten() async throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-init-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let port = try LoopbackPort.free()
        let fedmq = try fedmqExecutable().path
        let made = try ChildProcess(
            fedmq,
            [
                "init", "--job", "mine", "--data", repositoryFile("data/digits.csv"), "--label", "label", "--agents", "3", "--rounds", "3",
                "--port", "\(port)", "--out", out.path,
            ], logFile: out.path + "-init.log")
        #expect(try await within(.seconds(60), "fedmq init") { try await made.wait() } == 0)
        let config = try loadJSONConfig(AggregatorConfig.self, from: out.appendingPathComponent("aggregator.json").path)
        #expect(config.job == "mine" && config.policy.targetUpdates == 3 && config.model?.inputs == 64 && config.model?.outputs == 10)

        var environment = ProcessInfo.processInfo.environment
        environment["FEDMQ_BIN"] = try executable("fedmq-agent").deletingLastPathComponent().path
        let run = try ChildProcess("/bin/sh", [out.appendingPathComponent("run.sh").path], logFile: out.path + "-run.log", environment: environment)
        let status = try await within(.seconds(150), "run.sh") { try await run.wait() }
        let log = (try? String(contentsOfFile: out.path + "-run.log", encoding: .utf8)) ?? ""
        #expect(status == 0, "\(log)")
        #expect(log.contains("Done: metrics in state/aggregator/metrics.jsonl"))
        let lines = try String(contentsOf: out.appendingPathComponent("state/aggregator/metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        let metrics = try lines.map { try ProtocolJSON.decode(RoundMetrics.self, from: Array($0.utf8)) }
        #expect(metrics.map(\.round) == [1, 2, 3])
        #expect(metrics.allSatisfy { $0.participants == ["agent-0", "agent-1", "agent-2"] })
        #expect(try #require(metrics.last?.accuracy) > 0.8)
        // The script stopped the broker it started: the port is free again.
        #expect(
            try await within(.seconds(30), "the broker to stop") {
                while LoopbackPort.accepts(port) { try await Task.sleep(for: .milliseconds(50)) }
                return true
            })
    }
}
