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
            try CSVWriter.write(split.test, to: out + "/test.csv")
        }
        let parts = try Partitioner(parsing: scheme).partition(train, clients: clients, classes: classes, seed: seed)
        for (client, rows) in parts.enumerated() {
            try CSVWriter.write(train.subset(rows), to: out + "/client_\(client).csv")
            print("client_\(client).csv: \(rows.count) rows")
        }
        let scaling = FeatureScaling.fit(train)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(scaling).write(to: URL(fileURLWithPath: out + "/feature-scaling.json"))
    }
}
