import FedMQLocalBroker
import Foundation
import Testing

@Suite("fedmq demo", .timeLimit(.minutes(3)))
struct DemoTests {
    func directories() -> (out: String, work: String, log: String) {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-demo-test-\(UUID().uuidString)").path
        return (base + "/out", base + "/work", base + ".log")
    }

    /// Processes whose command line mentions `path` (the demo's work folder).
    func processes(mentioning path: String) -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return pids.filter { $0.allSatisfy(\.isNumber) }.compactMap { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let line = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return line.contains(path) ? line : nil
        }
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
