import FedMQLocalBroker
import FedMQProcess
import Foundation
import Testing

/// The daemons hand their start-up pages back once connected: the resident memory they log
/// before and after shows it, and they keep serving (and stop cleanly) afterwards.
@Suite("Start-up pages of the daemons", .timeLimit(.minutes(2)))
struct StartupPagesTests {
    @Test(
        "fedmq-agent and fedmq-aggregator release their start-up pages once connected",
        arguments: [
            ("fedmq-agent", ["--agent", "a", "--data", "DATA", "--label", "label"]),
            (
                "fedmq-aggregator",
                ["--target-updates", "1", "--model-spec", #"{"version": 1, "kind": "softmax_regression", "inputs": 3, "outputs": 2}"#]
            ),
        ])
    func releasedOnceConnected(program: String, arguments: [String]) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-startup-pages-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "x1,x2,x3,label\n0.1,0.2,0.3,0\n0.3,0.2,0.1,1\n".write(toFile: directory + "/data.csv", atomically: true, encoding: .utf8)
        try await withLocalBroker { broker in
            let log = directory + "/\(program).log"
            let child = try ChildProcess(
                try executable(program).path,
                arguments.map { $0 == "DATA" ? directory + "/data.csv" : $0 } + [
                    "--job", "j", "--state-dir", directory + "/state", "--host", "127.0.0.1", "--port", "\(broker.port)", "--log-level", "debug",
                ],
                logFile: log)
            let line = try await within(.seconds(60), "the start-up pages line in \(log)") {
                while true {
                    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                    if let line = text.split(separator: "\n").first(where: { $0.contains("start-up pages released") }) { return String(line) }
                    #expect(child.isRunning, "\(program) exited: \(text.suffix(800))")
                    if !child.isRunning { return "" }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            let kibibytes = line.split(separator: " ").compactMap { Int($0) }
            #expect(kibibytes.count == 2, "\(line)")
            if kibibytes.count == 2 {
                #expect(kibibytes[1] + 1024 < kibibytes[0], "at least 1 MiB fewer resident pages: \(line)")
            }
            #expect(await child.stop(grace: .seconds(30)) == 0, "\((try? String(contentsOfFile: log, encoding: .utf8))?.suffix(800) ?? "")")
        }
    }
}
