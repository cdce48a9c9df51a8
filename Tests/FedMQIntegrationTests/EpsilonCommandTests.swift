import Foundation
import Testing

@Suite("fedmq epsilon")
struct EpsilonCommandTests {
    @Test("both accountants for a reference case (q 0.001, z 1.1, 1,000 steps): RDP 0.5295, PLD 0.1224, and refusals by name")
    func referenceCase() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-epsilon-\(UUID().uuidString).log").path
        let (status, output) = try await runToEnd(
            try fedmqExecutable().path, ["epsilon", "--noise-multiplier", "1.1", "--sampling-probability", "0.001", "--steps", "1000"], log: log)
        #expect(status == 0, "\(output)")
        #expect(
            output.contains("RDP: epsilon 0.529549 (order 16)") && output.contains("PLD: epsilon 0.122399") && output.contains("RDP / PLD: 4.33"),
            "\(output)")
        let refused = try await runToEnd(try fedmqExecutable().path, ["epsilon", "--noise-multiplier", "0", "--steps", "10"], log: log + "-2")
        #expect(refused.status != 0 && refused.output.contains("--noise-multiplier must be positive"), "\(refused.output)")
    }
}
