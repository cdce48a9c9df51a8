import FedMQProcess
import Foundation
import Testing

/// A config file named by a bare one-letter name in the working directory: the executables
/// take its folder for the paths inside it. swift-corelibs-foundation's
/// `deletingLastPathComponent` trapped on such a name (SIGILL before any message).
@Suite("Config files by a one-letter name", .hangGuard)
struct ConfigPathTests {
    @Test(
        "fedmq-agent, fedmq-aggregator and fedmq-keyholder read --config c and name the file it points to that is missing",
        arguments: [
            ("fedmq-agent", #"{"agent": "a", "job": "j", "data_csv": "missing.csv", "state_directory": "s"}"#, "missing.csv"),
            (
                "fedmq-aggregator",
                #"{"job": "j", "state_directory": "s", "policy": {"target_updates": 1}, "identity_key": "missing.key", "model": {"version": 1, "kind": "softmax_regression", "inputs": 3, "outputs": 2}}"#,
                "missing.key"
            ),
            (
                "fedmq-keyholder",
                #"{"job": "j", "identity_key": "missing.key", "enrolment": "e.json", "state_directory": "s", "min_updates": 2}"#,
                "missing.key"
            ),
        ])
    func oneLetterName(program: String, config: String, missing: String) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data(config.utf8).write(to: URL(fileURLWithPath: directory + "/c"))
        let log = directory + "/run.log"
        let child = try ChildProcess(try executable(program).path, ["--config", "c"], logFile: log, workingDirectory: directory)
        let status = try await within(.seconds(60), program) { try await child.wait() }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status == 1, "\(program) exited with \(status): \(output.suffix(800))")
        #expect(output.contains(missing), "\(output.suffix(800))")
    }
}
