import ArgumentParser
import FedMQCommandLine
import FedMQCore
import FedMQRuntime
import Foundation

/// `fedmq windows`: cuts a continuous sensor log into the training rows agents read: sliding
/// windows over named channels, labelled through a label list.
struct WindowsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "windows",
        abstract: "Cut a sensor log (CSV, one reading per line) into labelled sliding windows for training.",
        discussion: """
            Example: fedmq windows --log walk.csv --channels ax,ay,az --length 50 --stride 25 \\
                       --label activity --labels sit,walk,run --segment device --out windows.csv
            Each output row is one window, channel-major (ax_0..ax_49, ay_0.., az_0..), then the label's index in
            --labels under the label column's name: agents read it with --label activity. Windows that straddle a
            label change or a change of --segment are left out; a window with a missing reading (empty or NaN) is
            left out, or with --fill takes one value per channel (e.g. the fleet-wide means fedmq analytics gives).
            """
    )

    @Option(help: "The sensor log (CSV with a header).") var log: String
    @Option(help: "Channel columns, comma-separated, in the order the model takes them.") var channels: String
    @Option(help: "Readings per window.") var length: Int
    @Option(help: "Readings from one window's start to the next (default: length, no overlap).") var stride: Int?
    @Option(help: "The label column.") var label: String
    @Option(help: "The labels in class order, comma-separated.") var labels: String
    @Option(help: "A column whose change ends a run of readings (device, recording).") var segment: String?
    @Option(help: "One value per channel for missing readings, comma-separated (default: leave such windows out).") var fill: String?
    @Option(help: "Output CSV.") var out: String
    @Flag(
        name: .customLong("per-segment"), help: "One file per value of --segment (a natural partition: one agent per device), named OUT-<value>.csv.")
    var perSegment = false

    func run() throws {
        let channelNames = channels.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var missing = SensorWindows.Missing.dropWindow
        if let fill {
            let values = fill.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard values.allSatisfy({ $0 != nil }) else { throw ValidationError("--fill takes numbers separated by commas") }
            missing = .fill(values.compactMap { $0 })
        }
        let windows = SensorWindows(
            channels: channelNames, length: length, stride: stride ?? length, label: label,
            labels: labels.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }, segment: segment, missing: missing)
        let text: String
        do {
            text = try String(contentsOfFile: log, encoding: .utf8)
        } catch {
            throw CommandFailure("\(log): cannot read: \(error.localizedDescription)")
        }
        if perSegment && segment == nil { throw ValidationError("--per-segment needs --segment") }
        let result = try windows.cut(text, file: log)
        if perSegment {
            try writePerSegment(result)
        } else {
            try CSVWriter.write(result.windows, to: out, label: label)
        }
        var skipped: [String] = []
        if result.mixedLabels > 0 { skipped.append("\(result.mixedLabels) with mixed labels") }
        if result.missingReadings > 0 { skipped.append("\(result.missingReadings) with missing readings") }
        print(
            "\(perSegment ? "\(Set(result.segments).count) files" : out): \(result.windows.count) windows of \(channelNames.count) channels x \(length) readings"
                + (skipped.isEmpty ? "" : "; left out \(skipped.joined(separator: ", "))"))
    }

    /// `OUT-<value>.csv` per segment value, in order of first appearance; a value that is not
    /// a valid file-name part (letters, digits, '.', '_', '-') is refused by name.
    private func writePerSegment(_ result: SensorWindows.Result) throws {
        let stem = out.hasSuffix(".csv") ? String(out.dropLast(4)) : out
        var order: [String] = []
        var rows: [String: [Int]] = [:]
        for (index, value) in result.segments.enumerated() {
            if rows[value] == nil { order.append(value) }
            rows[value, default: []].append(index)
        }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        for value in order {
            guard !value.isEmpty, value.count <= 64, value.allSatisfy(allowed.contains), !value.hasPrefix(".") else {
                throw CommandFailure("segment value '\(value.prefix(40))' cannot name a file: use letters, digits, '.', '_' and '-'")
            }
            let path = "\(stem)-\(value).csv"
            try CSVWriter.write(result.windows.subset(rows[value] ?? []), to: path, label: label)
            print("\(path): \(rows[value]?.count ?? 0) windows (\(segment ?? "") = \(value))")
        }
    }
}
