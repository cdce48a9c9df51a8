import ArgumentParser
import FedMQCommandLine
import FedMQCore
import FedMQRuntime
import Foundation

/// `fedmq partition`: split a data set among simulated clients with the core's partitioners.
struct PartitionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partition",
        abstract: "Write per-client CSVs (and a held-out test CSV) from one data set, for simulations and demos.",
        discussion: """
            Schemes: iid, dirichlet:ALPHA (label skew), shards:N (N label shards per client),
            quantity:ALPHA (size skew), by:COLUMN (one client per value of a numeric id column such as a
            device or household, which is then dropped from the features; needs --label). Writes OUT/client_<k>.csv, OUT/test.csv (stratified hold-out) and
            OUT/feature-scaling.json (mean and std of the training rows, for a model spec's "scaling").
            Output CSVs have no header and the label in the last column.
            """
    )

    @Option(help: "Input CSV.") var data: String
    @Option(help: "Label column name (the input has a header); default: last column, no header.") var label: String?
    @Option(help: "Number of clients (not with by:COLUMN, which makes one per value).") var clients: Int?
    @Option(help: "iid | dirichlet:ALPHA | shards:N | quantity:ALPHA | by:COLUMN") var scheme = "iid"
    @Option(help: "Classes (for label-aware schemes and the stratified hold-out).") var classes = 10
    @Option(name: .customLong("test-fraction"), help: "Held-out fraction for test.csv (0 for none).") var testFraction = 0.2
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Option(help: "Output directory.") var out: String
    @Flag(help: "Keep the header line in the files written (agents then read them with --label, and analytics can name columns).")
    var header = false

    /// The id column of a `by:COLUMN` scheme.
    var byColumn: String? { scheme.hasPrefix("by:") ? String(scheme.dropFirst(3)) : nil }

    func validate() throws {
        if header && label == nil { throw ValidationError("--header keeps the input's header line: it needs --label (the input has one)") }
        if let byColumn {
            guard !byColumn.isEmpty, label != nil else { throw ValidationError("--scheme by:COLUMN needs a column name and --label (a header)") }
            guard clients == nil else { throw ValidationError("--scheme by:COLUMN makes one client per value: leave out --clients") }
        } else {
            guard let clients, clients >= 1 else { throw ValidationError("give --clients (at least 1)") }
        }
    }

    func run() throws {
        let options = CSVOptions(hasHeader: label != nil, label: label.map { .name($0) } ?? .last)
        var all = try CSVReader.read(file: data, options: options)
        // A natural partition: the id column decides the client, then leaves the features.
        let ids = try byColumn.map { name in try all.featureIndex(named: name) }
        let groups = ids.map { all.rowsByValue(of: $0) }
        var owner = [Int](repeating: 0, count: all.count)
        for (client, group) in (groups ?? []).enumerated() { for row in group.rows { owner[row] = client } }
        if let ids { all = try all.removingFeature(ids) }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var kept = Array(0..<all.count)
        if testFraction > 0 {
            let split = try DataSplit.trainTestRows(all, testFraction: testFraction, classes: classes, seed: seed)
            kept = split.train
            try CSVWriter.write(all.subset(split.test), to: out + "/test.csv", label: header ? label : nil)
        }
        let train = all.subset(kept)
        let parts: [[Int]] =
            if let groups {
                groups.indices.map { client in kept.indices.filter { owner[kept[$0]] == client } }
            } else {
                try Partitioner(parsing: scheme).partition(train, clients: clients ?? 1, classes: classes, seed: seed)
            }
        for (client, rows) in parts.enumerated() {
            try CSVWriter.write(train.subset(rows), to: out + "/client_\(client).csv", label: header ? label : nil)
            let id = groups.map { " (\(byColumn ?? "") = \(Self.format($0[client].value)))" } ?? ""
            print("client_\(client).csv: \(rows.count) rows\(id)")
        }
        let scaling = FeatureScaling.fit(train)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(scaling).write(to: URL(fileURLWithPath: out + "/feature-scaling.json"))
    }

    static func format(_ value: Float) -> String { value == value.rounded() && abs(value) < 1e15 ? "\(Int(value))" : "\(value)" }
}
