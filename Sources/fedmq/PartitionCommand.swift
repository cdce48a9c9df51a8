import ArgumentParser
import FedMQCore
import Foundation

/// `fedmq partition`: split a data set among simulated clients with the core's partitioners.
struct PartitionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partition",
        abstract: "Write per-client CSVs (and a held-out test CSV) from one data set, for simulations and demos.",
        discussion: """
            Schemes: iid, dirichlet:ALPHA (label skew), shards:N (N label shards per client),
            quantity:ALPHA (size skew). Writes OUT/client_<k>.csv, OUT/test.csv (stratified hold-out) and
            OUT/feature-scaling.json (mean and std of the training rows, for a model spec's "scaling").
            Output CSVs have no header and the label in the last column.
            """
    )

    @Option(help: "Input CSV.") var data: String
    @Option(help: "Label column name (the input has a header); default: last column, no header.") var label: String?
    @Option(help: "Number of clients.") var clients: Int
    @Option(help: "iid | dirichlet:ALPHA | shards:N | quantity:ALPHA") var scheme = "iid"
    @Option(help: "Classes (for label-aware schemes and the stratified hold-out).") var classes = 10
    @Option(name: .customLong("test-fraction"), help: "Held-out fraction for test.csv (0 for none).") var testFraction = 0.2
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Option(help: "Output directory.") var out: String

    func run() throws {
        let options = CSVOptions(hasHeader: label != nil, label: label.map { .name($0) } ?? .last)
        var train = try CSVReader.read(file: data, options: options)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        if testFraction > 0 {
            let split = try DataSplit.trainTest(train, testFraction: testFraction, classes: classes, seed: seed)
            train = split.train
            try write(split.test, to: out + "/test.csv")
        }
        let parts = try partitioner().partition(train, clients: clients, classes: classes, seed: seed)
        for (client, rows) in parts.enumerated() {
            try write(train.subset(rows), to: out + "/client_\(client).csv")
            print("client_\(client).csv: \(rows.count) rows")
        }
        let scaling = FeatureScaling.fit(train)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(scaling).write(to: URL(fileURLWithPath: out + "/feature-scaling.json"))
    }

    private func partitioner() throws -> Partitioner {
        let parts = scheme.split(separator: ":", maxSplits: 1).map(String.init)
        let value = parts.count == 2 ? Double(parts[1]) : nil
        switch (parts[0], value) {
        case ("iid", _): return .iid
        case ("dirichlet", let alpha?): return .dirichlet(alpha: alpha)
        case ("shards", let count?) where count == count.rounded(): return .shards(perClient: Int(count))
        case ("quantity", let alpha?): return .quantitySkew(alpha: alpha)
        default: throw ValidationError("--scheme '\(scheme)' is not iid, dirichlet:ALPHA, shards:N or quantity:ALPHA")
        }
    }

    private func write(_ data: Dataset, to path: String) throws {
        var text = ""
        for row in 0..<data.count {
            let features = data.features[(row * data.featureCount)..<((row + 1) * data.featureCount)]
            text += features.map { "\($0)" }.joined(separator: ",") + ",\(data.targets[row].formatted())\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

extension Float {
    /// Whole numbers without a fraction (labels), others in Swift's shortest round-trip form.
    fileprivate func formatted() -> String {
        self == rounded() && abs(self) < 1e7 ? String(Int(self)) : "\(self)"
    }
}
