import FedMQLocalBroker
import FedMQProcess
import Foundation
import Testing

/// The daemons hand their start-up pages back once connected: the resident memory they log
/// before and after shows it, they bound every symbol as they loaded (so no symbol lookup maps
/// the libraries' tables back afterwards), and they keep serving, hand the pages back again as
/// a shutdown begins, and stop cleanly.
@Suite("Start-up pages of the daemons", .hangGuard)
struct StartupPagesTests {
    static let agentArguments = ["--agent", "a", "--data", "DATA", "--label", "label"]

    @Test(
        "fedmq-agent and fedmq-aggregator release their start-up pages once connected, and again as they stop",
        arguments: [
            ("fedmq-agent", agentArguments),
            (
                "fedmq-aggregator",
                ["--target-updates", "1", "--model-spec", #"{"version": 1, "kind": "softmax_regression", "inputs": 3, "outputs": 2}"#]
            ),
        ])
    func releasedOnceConnected(program: String, arguments: [String]) async throws {
        let (log, line, name, maps) = try await Self.runUntilReleased(program, arguments)
        // The second execution (`EagerBinding`) kept the process's name, as `ps` and `killall` see it.
        #expect(name == String(program.prefix(15)))
        // One malloc arena (`MallocArenas`): no thread's own 64 MiB heap reservation is mapped.
        #expect(Self.threadArenaHeaps(in: maps).isEmpty, "\(Self.threadArenaHeaps(in: maps))")
        let kibibytes = line.split(separator: " ").compactMap { Int($0) }
        #expect(kibibytes.count == 2, "\(line)")
        if kibibytes.count == 2 {
            #expect(kibibytes[1] + 1024 < kibibytes[0], "at least 1 MiB fewer resident pages: \(line)")
        }
        // Stopping hands the pages back once more, before the runtime's own shutdown runs.
        let lines = log.split(separator: "\n")
        let shutdown = lines.firstIndex { $0.contains("shutdown: pages released") }
        let stopping = lines.firstIndex { $0.contains("shutting down") }
        #expect(shutdown != nil && stopping != nil && shutdown! < stopping!, "\(log.suffix(800))")
        if let shutdown {
            let resident = lines[shutdown].split(separator: " ").compactMap { Int($0) }
            #expect(resident.count == 2 && resident[1] < resident[0], "\(lines[shutdown])")
        }
    }

    @Test("fedmq-agent binds its libraries' symbols as it loads, so none is looked up after the release")
    func boundBeforeTheRelease() async throws {
        let (log, line, _, _) = try await Self.runUntilReleased("fedmq-agent", Self.agentArguments, environment: ["LD_DEBUG": "bindings"])
        let lines = log.split(separator: "\n")
        let released = try #require(lines.firstIndex { $0 == line })
        // Lazily, OpenBLAS's matrix product would be bound at the first round's training.
        #expect(lines[..<released].contains { $0.contains("binding file") && $0.hasSuffix("`cblas_sgemm'") })
        let late = lines[(released + 1)...].filter { $0.contains("binding file") }
        #expect(late.isEmpty, "\(late.prefix(5))")
    }

    /// The lines of a `/proc/<pid>/maps` text that are the unused part of a thread arena's
    /// heap: glibc reserves 64 MiB per arena beyond the main one and maps what it does not use
    /// yet without access (thread stacks' guard pages are a few KiB).
    static func threadArenaHeaps(in maps: String) -> [Substring] {
        maps.split(separator: "\n").filter { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            let range = fields.first?.split(separator: "-").compactMap { UInt64($0, radix: 16) } ?? []
            return fields.count == 5 && fields[1] == "---p" && fields[4] == "0" && range.count == 2 && range[1] - range[0] >= 32 << 20
        }
    }

    /// Starts `program` against a fresh broker with debug logging, waits for its start-up pages
    /// line, stops it (expecting exit code 0) and returns its log, that line, and the process's
    /// name (`/proc/<pid>/comm`) and memory map while it ran.
    static func runUntilReleased(_ program: String, _ arguments: [String], environment: [String: String] = [:]) async throws
        -> (log: String, line: String, name: String, maps: String)
    {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-startup-pages-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "x1,x2,x3,label\n0.1,0.2,0.3,0\n0.3,0.2,0.1,1\n".write(toFile: directory + "/data.csv", atomically: true, encoding: .utf8)
        let log = directory + "/\(program).log"
        @Sendable func text() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        return try await withLocalBroker { broker in
            let child = try ChildProcess(
                try executable(program).path,
                arguments.map { $0 == "DATA" ? directory + "/data.csv" : $0 } + [
                    "--job", "j", "--state-dir", directory + "/state", "--host", "127.0.0.1", "--port", "\(broker.port)", "--log-level", "debug",
                ],
                logFile: log, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
            let line = try await within(.seconds(60), "the start-up pages line in \(log)") {
                while child.isRunning {
                    if let line = text().split(separator: "\n").first(where: { $0.contains("start-up pages released") }) { return String(line) }
                    try await Task.sleep(for: .milliseconds(50))
                }
                return ""
            }
            #expect(!line.isEmpty, "\(program) exited: \(text().suffix(800))")
            let name =
                (try? String(contentsOfFile: "/proc/\(child.pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            let maps = (try? String(contentsOfFile: "/proc/\(child.pid)/maps", encoding: .utf8)) ?? ""
            #expect(await child.stop(grace: .seconds(30)) == 0, "\(text().suffix(800))")
            return (text(), line, name, maps)
        }
    }
}
