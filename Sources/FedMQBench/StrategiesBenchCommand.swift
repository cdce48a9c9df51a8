import ArgumentParser
import FedMQCommandLine
import FedMQCore
import FedMQRuntime
import Foundation

/// `fedmq bench strategies`: final accuracy of every aggregation strategy on digits split
/// non-IID (Dirichlet 0.3) over 10 agents, beside FedAvg in the same run.
struct StrategiesBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strategies",
        abstract: "Final accuracy per strategy (FedAvg, FedProx, median, trimmed mean, Krum, Multi-Krum, Bulyan, server optimizers), non-IID digits."
    )

    @OptionGroup var output: BenchOutputOptions
    @Option(help: "Rounds per run.") var rounds = 30
    @Option(help: "Dirichlet concentration of the label split (smaller: more skewed).") var alpha = 0.3
    @Option(help: "The digits CSV.") var data = "data/digits.csv"

    func run() throws {
        let machine = BenchmarkReport.machine()
        let all = try CSVReader.read(file: data, options: CSVOptions(hasHeader: true, label: .name("label")))
        let spec = ModelSpec(kind: .mlp, inputs: 64, hidden: [32], outputs: 10)
        let training = TrainingConfig(learningRate: 0.05, momentum: 0.9, batchSize: 32, epochs: 1)
        var proximal = training
        proximal.proximalMu = 0.01
        let settings: [(name: String, config: StrategyConfig, training: TrainingConfig)] = [
            ("FedAvg (example-weighted)", StrategyConfig(name: "fedavg"), training),
            ("FedProx (mu 0.01)", StrategyConfig(name: "fedavg"), proximal),
            ("mean (uniform)", StrategyConfig(name: "mean"), training),
            ("median", StrategyConfig(name: "median"), training),
            ("trimmed mean (beta 0.1)", StrategyConfig(name: "trimmed_mean", beta: 0.1), training),
            ("Krum (f 2)", StrategyConfig(name: "krum", f: 2), training),
            ("Multi-Krum (f 2, m 6)", StrategyConfig(name: "multi_krum", f: 2, m: 6), training),
            ("Bulyan (f 1)", StrategyConfig(name: "bulyan", f: 1), training),
            ("FedAvgM (server lr 1, momentum 0.9)", StrategyConfig(name: "fedavgm"), training),
            ("FedAdagrad (server lr 0.1)", StrategyConfig(name: "fedadagrad"), training),
            ("FedAdam (server lr 0.1)", StrategyConfig(name: "fedadam"), training),
            ("FedYogi (server lr 0.1)", StrategyConfig(name: "fedyogi"), training),
        ]
        var accuracies = [[Double]](repeating: [], count: settings.count)
        for run in 1...output.runs {
            let seed = UInt64(run)
            let (clients, test) = try Self.federate(all, partitioner: .dirichlet(alpha: alpha), seed: seed)
            for (index, setting) in settings.enumerated() {
                let simulation = FederatedSimulation(spec: spec, clients: clients, rounds: rounds, training: setting.training, seed: seed)
                let model = try simulation.run(from: try spec.initialParameters(seed: seed), strategy: try setting.config.make())
                accuracies[index].append(try Evaluation.evaluate(model, spec: spec, on: test).accuracy ?? 0)
            }
            print("run \(run): " + zip(settings, accuracies).map { "\($0.name) \(String(format: "%.4f", $1.last!))" }.joined(separator: ", "))
        }
        let baseline = accuracies[0]
        let results = settings.enumerated().map { index, setting in
            BenchmarkResult(
                name: "strategies-\(setting.config.name)\(index == 1 ? "-fedprox" : "")", metric: "final test accuracy: \(setting.name)",
                fedmq: BenchmarkReport.median(accuracies[index]), peer: BenchmarkReport.median(baseline), peerName: "FedAvg (same run)",
                goal: "reported", goalMet: true, machine: machine, runs: zip(accuracies[index], baseline).map { .init(fedmq: $0, peer: $1) })
        }
        try BenchmarkReport.writeJSON(results, to: output.results)
        var lines = [
            "## Strategies on non-IID data (`make bench-strategies`)",
            "",
            "Digits split over 10 agents by a Dirichlet(\(alpha)) draw over labels, an MLP 64-32-10, one local epoch per round (SGD,",
            "lr 0.05, momentum 0.9, batch 32), \(rounds) rounds, every agent every round, in one process (the core's trainer and",
            "strategies; the transport does not change accuracy). No attackers: this is what each strategy costs or gains on",
            "skewed honest data. Medians of \(output.runs) runs, each with its own split and seed. Machine: \(machine).",
            "",
            "| strategy | final accuracy | FedAvg | difference | spread |",
            "|---|---|---|---|---|",
        ]
        for (result, setting) in zip(results, settings) {
            lines.append(
                "| \(setting.name) | \(BenchmarkReport.format(result.fedmq, digits: 4)) | \(BenchmarkReport.format(result.peer, digits: 4)) "
                    + "| \(String(format: "%+.1f", (result.fedmq - result.peer) * 100)) points | \(BenchmarkReport.spread(result.runs.map(\.fedmq), digits: 4)) |"
            )
        }
        lines += ["", "Figures: `bench/results/strategies.json`. Attack tolerance is tested separately (docs/core.md)."]
        let text = lines.joined(separator: "\n")
        try BenchmarkReport.replaceSection("strategies", with: text, in: output.markdown)
        print(text)
    }

    /// Digits split 80/20 (stratified), scaled by the training rows' statistics, the training
    /// rows dealt to 10 agents by `partitioner`.
    static func federate(_ all: Dataset, partitioner: Partitioner, seed: UInt64) throws -> (clients: [Dataset], test: Dataset) {
        var (train, test) = try DataSplit.trainTest(all, testFraction: 0.2, classes: 10, seed: seed)
        let scaling = FeatureScaling.fit(train)
        try scaling.apply(to: &train)
        try scaling.apply(to: &test)
        return (try partitioner.partition(train, clients: 10, classes: 10, seed: seed).map { train.subset($0) }, test)
    }
}
