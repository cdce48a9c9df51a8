import Foundation
import Testing

@Suite("fedmq partition by a column")
struct PartitionByColumnTests {
    /// 30 rows of three devices (ids 7, 3 and 9), two features, a label.
    func dataFile() throws -> (path: String, directory: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-partition-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var lines = ["device,x1,x2,label"]
        for row in 0..<30 { lines.append("\([7, 3, 9][row % 3]),\(row),\(Double(row) / 10),\(row % 2)") }
        let path = directory + "/readings.csv"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return (path, directory)
    }

    func rows(_ path: String) throws -> [[String]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
    }

    @Test("by:device makes one client per device, in order of the id, without the id column; the hold-out has no id either")
    func byDevice() async throws {
        let (path, directory) = try dataFile()
        let out = directory + "/split"
        let (status, output) = try await runToEnd(
            try fedmqExecutable().path,
            ["partition", "--data", path, "--label", "label", "--scheme", "by:device", "--test-fraction", "0", "--classes", "2", "--out", out],
            log: directory + "/partition.log")
        #expect(status == 0, "\(output)")
        #expect(output.contains("client_0.csv: 10 rows (device = 3)") && output.contains("client_2.csv: 10 rows (device = 9)"), "\(output)")
        for (client, device) in [3, 7, 9].enumerated() {
            let written = try rows(out + "/client_\(client).csv")
            #expect(written.count == 10 && written.allSatisfy { $0.count == 3 })
            // x1 is the row number, whose device was row % 3's.
            #expect(written.allSatisfy { [7, 3, 9][Int(Double($0[0]) ?? -1) % 3] == device }, "\(written)")
        }
        let held = directory + "/held"
        let second = try await runToEnd(
            try fedmqExecutable().path,
            ["partition", "--data", path, "--label", "label", "--scheme", "by:device", "--classes", "2", "--out", held], log: directory + "/held.log")
        #expect(second.status == 0, "\(second.output)")
        let test = try rows(held + "/test.csv")
        let clients = try (0..<3).map { try rows(held + "/client_\($0).csv").count }
        #expect(test.allSatisfy { $0.count == 3 } && test.count + clients.reduce(0, +) == 30, "\(test.count) + \(clients)")
    }

    @Test("a column that is not there, --clients beside by:, or by: without a header are refused by name")
    func refusals() async throws {
        let (path, directory) = try dataFile()
        let missing = try await runToEnd(
            try fedmqExecutable().path, ["partition", "--data", path, "--label", "label", "--scheme", "by:room", "--out", directory + "/a"],
            log: directory + "/a.log")
        #expect(missing.status != 0 && missing.output.contains("no column named 'room' among device, x1, x2"), "\(missing.output)")
        let both = try await runToEnd(
            try fedmqExecutable().path,
            ["partition", "--data", path, "--label", "label", "--scheme", "by:device", "--clients", "3", "--out", directory + "/b"],
            log: directory + "/b.log")
        #expect(both.status != 0 && both.output.contains("leave out --clients"), "\(both.output)")
        let headless = try await runToEnd(
            try fedmqExecutable().path, ["partition", "--data", path, "--scheme", "by:device", "--out", directory + "/c"], log: directory + "/c.log")
        #expect(headless.status != 0 && headless.output.contains("needs a column name and --label"), "\(headless.output)")
    }

    @Test("--header keeps the column names (without the id column) in every file written; without --label it is refused")
    func header() async throws {
        let (path, directory) = try dataFile()
        let run = try await runToEnd(
            try fedmqExecutable().path,
            ["partition", "--data", path, "--label", "label", "--scheme", "by:device", "--header", "--classes", "2", "--out", directory + "/h"],
            log: directory + "/h.log")
        #expect(run.status == 0, "\(run.output)")
        for file in ["client_0.csv", "client_2.csv", "test.csv"] {
            let written = try rows(directory + "/h/" + file)
            #expect(written.first == ["x1", "x2", "label"] && written.dropFirst().allSatisfy { Double($0[0]) != nil }, "\(file)")
        }
        let refused = try await runToEnd(
            try fedmqExecutable().path, ["partition", "--data", path, "--clients", "2", "--header", "--out", directory + "/n"],
            log: directory + "/n.log")
        #expect(refused.status != 0 && refused.output.contains("--header keeps the input's header line: it needs --label"), "\(refused.output)")
    }
}
