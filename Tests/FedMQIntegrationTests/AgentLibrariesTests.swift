import Foundation
import Testing

/// The agent is linked against FoundationEssentials only: no Foundation, CoreFoundation or
/// ICU, whose code and data an edge device would otherwise load (about 2 MiB of memory and
/// 40 MiB of executable).
@Suite("The agent's libraries")
struct AgentLibrariesTests {
    @Test("fedmq-agent needs FoundationEssentials and neither Foundation nor its internationalization (ICU)")
    func foundationEssentialsOnly() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-readelf-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let dynamic = try await runToEnd("/usr/bin/readelf", ["--dynamic", try executable("fedmq-agent").path], log: log)
        #expect(dynamic.status == 0, "\(dynamic.output)")
        let needed = dynamic.output.split(separator: "\n").filter { $0.contains("(NEEDED)") }.compactMap { line in
            line.split(separator: "[").last?.split(separator: "]").first.map(String.init)
        }
        #expect(needed.contains("libFoundationEssentials.so"), "\(needed)")
        #expect(!needed.contains { $0.hasPrefix("libFoundation.so") || $0.contains("Internationalization") || $0.contains("ICU") }, "\(needed)")
    }
}
