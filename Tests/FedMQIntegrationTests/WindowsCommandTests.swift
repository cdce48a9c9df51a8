import FedMQCore
import Foundation
import Testing

@Suite("fedmq windows")
struct WindowsCommandTests {
    @Test("a log becomes windows an agent reads with --label; the command says what it left out; a bad --fill is refused")
    func windows() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-windows-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var lines = ["t,device,ax,ay,az,activity"]
        for i in 0..<40 { lines.append("\(i),\(i < 20 ? 1 : 2),\(Double(i) / 10),\(i % 5),\(i == 7 ? "" : "1"),\(i < 12 ? "sit" : "walk")") }
        try (lines.joined(separator: "\n") + "\n").write(toFile: directory + "/log.csv", atomically: true, encoding: .utf8)
        let arguments = [
            "windows", "--log", directory + "/log.csv", "--channels", "ax,ay,az", "--length", "4", "--stride", "4", "--label", "activity",
            "--labels", "sit,walk", "--segment", "device", "--out", directory + "/windows.csv",
        ]
        let run = try await runToEnd(try fedmqExecutable().path, arguments, log: directory + "/windows.log")
        #expect(run.status == 0, "\(run.output)")
        // Windows start every 4 readings (10 in all); reading 7's az is missing, so the window at 4 is left out.
        #expect(run.output.contains("windows.csv: 9 windows of 3 channels x 4 readings; left out 1 with missing readings"), "\(run.output)")
        let data = try CSVReader.read(file: directory + "/windows.csv", options: CSVOptions(hasHeader: true, label: .name("activity")))
        #expect(data.count == 9 && data.featureCount == 12 && data.featureNames?.first == "ax_0")
        #expect(data.targets == [0, 0, 1, 1, 1, 1, 1, 1, 1])
        // A natural partition: one file per device, for one agent each.
        let split = try await runToEnd(try fedmqExecutable().path, arguments + ["--per-segment"], log: directory + "/split.log")
        #expect(split.status == 0, "\(split.output)")
        #expect(
            split.output.contains("windows-1.csv: 4 windows (device = 1)") && split.output.contains("windows-2.csv: 5 windows (device = 2)"),
            "\(split.output)")
        let second = try CSVReader.read(file: directory + "/windows-2.csv", options: CSVOptions(hasHeader: true, label: .name("activity")))
        #expect(second.count == 5 && second.features.first == 2.0 && second.targets.allSatisfy { $0 == 1 })
        let refused = try await runToEnd(
            try fedmqExecutable().path, arguments + ["--fill", "0.5,1"], log: directory + "/refused.log")
        #expect(refused.status != 0 && refused.output.contains("fill needs one finite value per channel (3)"), "\(refused.output)")
    }
}
