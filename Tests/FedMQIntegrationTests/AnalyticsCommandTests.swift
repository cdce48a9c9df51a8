import FedMQCore
import FedMQLocalBroker
import FedMQProcess
import FedMQProtocol
import Foundation
import Testing

/// `fedmq analytics` against a real broker and three `fedmq-agent` processes holding the shipped
/// breast-cancer data between them.
@Suite("fedmq analytics with real processes", .hangGuard)
struct AnalyticsCommandTests {
    /// The data set's rows, dealt round-robin to three agents' CSV files (header kept), and the
    /// agents' configs for job `stats`.
    func fleet(_ broker: LocalBroker) throws -> (directory: String, configs: [String], rows: [[String: Double]]) {
        let directory = broker.directory.appendingPathComponent("analytics").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let lines = try String(contentsOfFile: repositoryFile("data/breast_cancer.csv"), encoding: .utf8).split(separator: "\n").map(String.init)
        let names = lines[0].split(separator: ",").map(String.init)
        let rows = lines.dropFirst().map { line in
            Dictionary(uniqueKeysWithValues: zip(names, line.split(separator: ",").map { Double($0) ?? .nan }))
        }
        var configs: [String] = []
        for agent in 0..<3 {
            let data = directory + "/agent-\(agent).csv"
            let mine = lines.dropFirst().enumerated().filter { $0.offset % 3 == agent }.map(\.element)
            try (([lines[0]] + mine).joined(separator: "\n") + "\n").write(toFile: data, atomically: true, encoding: .utf8)
            let config: [String: Any] = [
                "agent": "a\(agent)", "job": "stats", "broker": ["host": "127.0.0.1", "port": broker.port], "data_csv": data,
                "data_label": "label", "state_directory": directory + "/agent-\(agent)",
            ]
            configs.append(directory + "/agent-\(agent).json")
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configs[agent]))
        }
        return (directory, configs, rows)
    }

    /// The value printed for `query` (`<query> = <value> (<n> records)`).
    func printed(_ query: String, in output: String) -> Double? {
        output.split(separator: "\n").first { $0.hasPrefix(query + " = ") }
            .flatMap { $0.dropFirst(query.count + 3).split(separator: " ").first }.flatMap { Double($0.trimmingCharacters(in: ["[", "]", ","])) }
    }

    @Test("exact answers without noise, then a second query of the same job with record-level privacy at epsilon 1")
    func twoQueries() async throws {
        try await withLocalBroker { broker in
            let (directory, configs, rows) = try fleet(broker)
            let agents = try configs.enumerated().map { index, config in
                try ChildProcess(try executable("fedmq-agent").path, ["--config", config], logFile: directory + "/agent-\(index).log")
            }
            let common = ["analytics", "--job", "stats", "--agents", "3", "--state-dir", directory + "/aggregator", "--port", "\(broker.port)"]
            let first = try await runToEnd(
                try fedmqExecutable().path,
                common + ["--query", "count", "--query", "mean:mean_radius:5:30", "--query", "quantiles:mean_area:0:2600:0.5:2600"],
                log: directory + "/first.log")
            #expect(first.status == 0, "\(first.output)")
            #expect(first.output.contains("count = 569 (569 records)") && first.output.contains("privacy: none"), "\(first.output)")
            let radius = rows.map { $0["mean_radius"] ?? 0 }.reduce(0, +) / 569
            #expect(abs((printed("mean:mean_radius:5.0:30.0", in: first.output) ?? 0) - radius) < 1e-3, "\(first.output)")
            let median = rows.map { $0["mean_area"] ?? 0 }.sorted()[284]
            #expect(abs((printed("quantiles:mean_area:0.0:2600.0:0.5:2600", in: first.output) ?? 0) - median) < 1.5, "\(first.output)")

            let second = try await runToEnd(
                try fedmqExecutable().path,
                common + ["--query", "mean:mean_radius:5:30", "--epsilon", "1", "--level", "record", "--max-records", "300", "--json"],
                log: directory + "/second.log")
            #expect(second.status == 0, "\(second.output)")
            let json = try #require(second.output.split(separator: "\n").last { $0.hasPrefix("{") })
            let metrics = try ProtocolJSON.decode(RoundMetrics.self, from: Array(json.utf8))
            #expect(metrics.round == 2 && metrics.participants == ["a0", "a1", "a2"])
            #expect(abs((metrics.epsilon ?? 0) - 1) < 1e-6 && metrics.delta == 1e-5 && metrics.accountant == "pld", "\(json)")
            #expect(metrics.threatModel?.contains("one record of one agent (each agent weighing at most 300 records)") == true)
            // σ on the vector: 3.73 · 2√2/300; on the mean about 12.5 · 10.5 / 569 ≈ 0.23: 10 σ is 2.3.
            let noisy = try #require(metrics.analytics?.first?.value)
            #expect(abs(noisy - radius) < 3, "\(noisy) vs \(radius)")
            // Third: the fleet-wide scaling of two features, for a training job's model spec.
            let scaling = directory + "/scaling.json"
            let third = try await runToEnd(
                try fedmqExecutable().path,
                common + ["--standardize", "mean_radius:5:30", "--standardize", "mean_area:0:2600", "--scaling-out", scaling],
                log: directory + "/third.log")
            #expect(third.status == 0 && third.output.contains("feature scaling of 2 features written"), "\(third.output)")
            let written = try JSONDecoder().decode(FeatureScaling.self, from: Data(contentsOf: URL(fileURLWithPath: scaling)))
            for (index, column) in ["mean_radius", "mean_area"].enumerated() {
                let values = rows.map { $0[column] ?? 0 }
                let mean = values.reduce(0, +) / 569
                let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 569).squareRoot()
                #expect(abs(Double(written.mean[index]) - mean) < 1e-3 * mean && abs(Double(written.std[index]) - std) < 1e-3 * std, "\(written)")
            }
            // The aggregator takes it into its model spec: a spec of 30 inputs refuses 2 features' scaling by name.
            let spec = #"{"version":1,"kind":"softmax_regression","inputs":30,"outputs":2}"#
            let aggregator = try await runToEnd(
                try executable("fedmq-aggregator").path,
                ["--job", "train", "--state-dir", directory + "/train", "--target-updates", "3", "--model-spec", spec, "--feature-scaling", scaling],
                log: directory + "/train.log")
            #expect(aggregator.status != 0 && aggregator.output.contains("feature scaling must have 30 finite means"), "\(aggregator.output)")
            for agent in agents { await agent.stop() }
        }
    }

    @Test("bad queries and flags are refused by name before anything runs")
    func refusals() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-analytics-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let cases: [([String], String)] = [
            (["--query", "median:x:0:1"], "unknown statistic 'median'"),
            (["--query", "mean:x:1:0"], "analytics query 'mean:x:1:0': range must be"),
            (["--query", "count", "--epsilon", "1", "--noise-multiplier", "2"], "not both"),
            (["--query", "count", "--level", "device"], "--level must be client or record"),
            (["--query", "count", "--secure"], "secure aggregation"),
            (["--query", "count", "--scaling-out", "s.json"], "give them"),
        ]
        for (index, (arguments, expected)) in cases.enumerated() {
            let run = try await runToEnd(
                try fedmqExecutable().path, ["analytics", "--job", "j", "--agents", "2", "--state-dir", directory + "/s\(index)"] + arguments,
                log: directory + "/\(index).log")
            #expect(run.status != 0 && run.output.contains(expected), "\(arguments): \(run.output)")
        }
    }
}
