import FedMQCommandLine
import Foundation

/// One benchmark figure: FedMQ beside its peer, measured in the same run.
struct BenchmarkResult: Codable {
    struct Run: Codable {
        var fedmq: Double
        var peer: Double
    }

    var name: String
    var metric: String
    var fedmq: Double
    var peer: Double
    var peerName: String
    var goal: String
    var goalMet: Bool
    var machine: String
    var runs: [Run]

    enum CodingKeys: String, CodingKey {
        case name, metric, fedmq, peer, goal, machine, runs
        case peerName = "peer_name"
        case goalMet = "goal_met"
    }

    var ratio: Double { fedmq / peer }
}

extension BenchmarkResult {
    /// A figure from paired runs: the medians of both sides, the goal checked on the medians.
    init(
        name: String, metric: String, peerName: String, goal: String, check: ((Double, Double) -> Bool)?, machine: String, runs: [Run]
    ) {
        let fedmq = BenchmarkReport.median(runs.map(\.fedmq))
        let peer = BenchmarkReport.median(runs.map(\.peer))
        self.init(
            name: name, metric: metric, fedmq: fedmq, peer: peer, peerName: peerName, goal: goal,
            goalMet: check.map { $0(fedmq, peer) } ?? true, machine: machine, runs: runs)
    }
}

enum BenchmarkReport {
    /// The 1-minute load average (0 if /proc/loadavg cannot be read).
    static func loadAverage() -> Double {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first).flatMap { Double($0) } ?? 0
    }

    /// One line describing this machine: CPU model, cores, memory, OS.
    static func machine() -> String {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model =
            cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        let memory = Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824
        let os =
            (try? String(contentsOfFile: "/etc/os-release", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("PRETTY_NAME=") }?
            .dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) ?? "Linux"
        return "\(model), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(String(format: "%.0f", memory)) GiB, \(os)"
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    static func writeJSON(_ results: [BenchmarkResult], to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoder.encode(results).write(to: url, options: .atomic)
    }

    /// Replaces the text between `<!-- bench:ID:start -->` and `<!-- bench:ID:end -->` in a
    /// Markdown file (appending the section if it is missing), leaving the rest as it was.
    static func replaceSection(_ id: String, with body: String, in path: String) throws {
        let start = "<!-- bench:\(id):start -->"
        let end = "<!-- bench:\(id):end -->"
        let block = "\(start)\n\(body.trimmingCharacters(in: .newlines))\n\(end)"
        var text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "# Benchmarks\n"
        if let from = text.range(of: start), let to = text.range(of: end, range: from.upperBound..<text.endIndex) {
            text.replaceSubrange(from.lowerBound..<to.upperBound, with: block)
        } else {
            text += "\n" + block + "\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// A table of paired figures: both medians, their ratio, both spreads, the goal and whether
    /// it is met, under a `###` title.
    static func comparisonTable(_ title: String, _ rows: [BenchmarkResult], peer: String) -> String {
        var lines = [
            "### \(title)", "", "| figure | FedMQ | \(peer) | FedMQ / \(peer) | spread FedMQ | spread \(peer) | goal | met |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in rows {
            let digits = row.fedmq < 10 ? 3 : 1
            lines.append(
                "| \(row.metric) | \(format(row.fedmq, digits: digits)) | \(format(row.peer, digits: digits)) | \(format(row.ratio, digits: 3)) "
                    + "| \(spread(row.runs.map(\.fedmq), digits: digits)) | \(spread(row.runs.map(\.peer), digits: digits)) | \(row.goal) "
                    + "| \(row.goal == "reported" ? "–" : row.goalMet ? "yes" : "**no**") |")
        }
        return lines.joined(separator: "\n")
    }

    static func format(_ value: Double, digits: Int = 0) -> String {
        String(format: "%.\(digits)f", value)
    }

    /// "min–max" of the runs, for the spread column.
    static func spread(_ values: [Double], digits: Int = 0) -> String {
        guard let low = values.min(), let high = values.max() else { return "–" }
        return "\(format(low, digits: digits))–\(format(high, digits: digits))"
    }
}
