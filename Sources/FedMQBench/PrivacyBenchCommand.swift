import ArgumentParser
import FedMQCommandLine
import FedMQCore
import FedMQRuntime
import Foundation

/// `fedmq bench privacy`: final accuracy under each privacy setting beside the non-private
/// baseline of the same run (digits, 10 agents, softmax regression, FedAvg).
struct PrivacyBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "privacy",
        abstract: "Privacy-utility table: DP-SGD at epsilon 1, 3, 8 and client-level DP at z = 1, beside no DP."
    )

    @OptionGroup var output: BenchOutputOptions
    @Option(help: "Rounds per run.") var rounds = 30
    @Option(help: "The digits CSV.") var data = "data/digits.csv"

    func run() throws {
        let machine = BenchmarkReport.machine()
        let all = try CSVReader.read(file: data, options: CSVOptions(hasHeader: true, label: .name("label")))
        var (train, test) = try DataSplit.trainTest(all, testFraction: 0.2, classes: 10, seed: 0)
        let scaling = FeatureScaling.fit(train)
        try scaling.apply(to: &train)
        try scaling.apply(to: &test)
        let clients = try Partitioner.iid.partition(train, clients: 10, classes: 10, seed: 0).map { train.subset($0) }
        let spec = ModelSpec(kind: .softmaxRegression, inputs: 64, outputs: 10)
        let plain = TrainingConfig(learningRate: 0.05, batchSize: 16, epochs: 1)
        let (q, delta) = (0.1, 1e-5)
        let steps = rounds * Int((1 / q).rounded())

        var settings: [(name: String, training: TrainingConfig, privacy: ClientPrivacy?, goal: String, check: ((Double, Double) -> Bool)?)] = []
        for epsilon in [1.0, 3.0, 8.0] {
            let z = try RDPAccountant.noiseMultiplier(targetEpsilon: epsilon, delta: delta, samplingProbability: q, steps: steps)
            let dpSGD = DPSGDConfig(clipNorm: 1, noiseMultiplier: z, samplingRate: q)
            let goal = epsilon == 8 ? "within 5 points of no DP" : "reported"
            let check: ((Double, Double) -> Bool)? = epsilon == 8 ? { $0 >= $1 - 0.05 } : nil
            settings.append(
                (
                    "DP-SGD, record-level epsilon \(Int(epsilon)) (z = \(String(format: "%.3f", z)), q = \(q))",
                    TrainingConfig(learningRate: 0.5, epochs: 1, dpSGD: dpSGD), nil, goal, check
                ))
        }
        for mode in ClientPrivacy.Mode.allCases {
            let privacy = ClientPrivacy(mode: mode, clipNorm: 1, noiseMultiplier: 1, expectedCohort: 10, delta: delta)
            settings.append(("client-level \(mode.rawValue), z = 1, C = 1", plain, privacy, "reported", nil))
        }

        func accuracy(_ training: TrainingConfig, _ privacy: ClientPrivacy?, seed: UInt64) throws -> Double {
            let simulation = FederatedSimulation(
                spec: spec, clients: clients, rounds: rounds, training: training, privacy: privacy, seed: seed)
            let model = try simulation.run(
                from: try spec.initialParameters(seed: seed), strategy: FedAvg(weighting: privacy == nil ? .examples : .uniform))
            return try Evaluation.evaluate(model, spec: spec, on: test).accuracy ?? 0
        }
        var baselines: [Double] = []
        var accuracies = [[Double]](repeating: [], count: settings.count)
        for run in 1...output.runs {
            let seed = UInt64(run)
            baselines.append(try accuracy(plain, nil, seed: seed))
            for (index, setting) in settings.enumerated() {
                accuracies[index].append(try accuracy(setting.training, setting.privacy, seed: seed))
            }
            print(
                "run \(run): no DP \(String(format: "%.4f", baselines.last!)), "
                    + accuracies.map { String(format: "%.4f", $0.last!) }.joined(separator: ", "))
        }
        let baseline = BenchmarkReport.median(baselines)
        var results: [BenchmarkResult] = []
        for (index, setting) in settings.enumerated() {
            let accuracy = BenchmarkReport.median(accuracies[index])
            results.append(
                BenchmarkResult(
                    name: "privacy-\(index + 1)", metric: "final test accuracy: \(setting.name)", fedmq: accuracy, peer: baseline,
                    peerName: "FedMQ without DP (same run)", goal: setting.goal, goalMet: setting.check.map { $0(accuracy, baseline) } ?? true,
                    machine: machine, runs: zip(accuracies[index], baselines).map { .init(fedmq: $0, peer: $1) }))
        }
        try BenchmarkReport.writeJSON(results, to: output.results)
        var lines = [
            "## Privacy and utility (`make bench-privacy`)",
            "",
            "Digits, 10 agents (IID), softmax regression, FedAvg, \(rounds) rounds, one local epoch per round, in one process",
            "(the core's trainer, FedAvg and privacy code; the transport does not change accuracy). DP-SGD epsilons are",
            "record-level over all \(rounds) rounds (delta \(delta), noise multiplier calibrated by FedMQ's accountant); client-level",
            "rows use clip C = 1 and noise multiplier z = 1 (unweighted FedAvg). Medians of \(output.runs) runs with different seeds.",
            "Machine: \(machine).",
            "",
            "| setting | accuracy | no DP | difference | spread | goal | met |",
            "|---|---|---|---|---|---|---|",
        ]
        for (result, setting) in zip(results, settings) {
            lines.append(
                "| \(setting.name) | \(BenchmarkReport.format(result.fedmq, digits: 4)) | \(BenchmarkReport.format(result.peer, digits: 4)) "
                    + "| \(String(format: "%+.1f", (result.fedmq - result.peer) * 100)) points | \(BenchmarkReport.spread(result.runs.map(\.fedmq), digits: 4)) "
                    + "| \(result.goal) | \(setting.check == nil ? "–" : (result.goalMet ? "yes" : "no")) |")
        }
        lines += [
            "", "Figures: `bench/results/privacy.json`. With only 10 agents, client-level noise at z = 1 costs much accuracy; see docs/privacy.md.",
        ]
        let table = lines.joined(separator: "\n")
        try BenchmarkReport.replaceSection("privacy", with: table, in: output.markdown)
        print(table)
    }
}
