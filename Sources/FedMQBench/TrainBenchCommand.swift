import ArgumentParser
import FedMQCommandLine
import FedMQCore
import Foundation

/// `fedmq bench train`: one epoch of an MLP 784-128-10 on synthetic data, single thread,
/// FedMQCore beside numpy and PyTorch running the same math in the same run.
struct TrainBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training speed of FedMQCore vs numpy and PyTorch (one thread, same math)."
    )

    @OptionGroup var output: BenchOutputOptions

    @Option(help: "Synthetic rows per epoch.")
    var rows = 60_000

    @Option(help: "Python interpreter with numpy and torch installed.")
    var python = "bench/.venv/bin/python"

    @Option(help: "The peer script (numpy and PyTorch implementations).")
    var peerScript = "bench/train_peer.py"

    @Option(name: .customLong("peer"), help: "Peers to run: numpy, torch (repeatable).")
    var peers: [String] = ["numpy", "torch"]

    func validate() throws {
        guard !peers.isEmpty, peers.allSatisfy(["numpy", "torch"].contains) else {
            throw ValidationError("--peer takes numpy or torch")
        }
    }

    func run() async throws {
        let machine = BenchmarkReport.machine()
        var fedmqRates: [Double] = []
        var peerRates: [String: [Double]] = [:]
        let data = try syntheticData()
        for run in 1...output.runs {
            fedmqRates.append(try fedmqEpoch(data))
            var line = "run \(run): FedMQ \(Int(fedmqRates.last!)) samples/s"
            for framework in peers {
                peerRates[framework, default: []] += try peerEpochs(framework, runs: 1)
                line += ", \(framework) \(Int(peerRates[framework]!.last!))"
            }
            print(line)
        }
        let names = ["torch": "PyTorch", "numpy": "numpy"]
        let results = peers.sorted(by: >).map { key in
            let name = names[key] ?? key
            let peer = peerRates[key] ?? []
            let fedmq = BenchmarkReport.median(fedmqRates)
            let median = BenchmarkReport.median(peer)
            return BenchmarkResult(
                name: "train-mlp-784-128-10", metric: "samples/s", fedmq: fedmq, peer: median,
                peerName: "\(name) (single thread)", goal: "ratio >= 1.0", goalMet: fedmq / median >= 1,
                machine: machine, runs: zip(fedmqRates, peer).map { .init(fedmq: $0, peer: $1) })
        }
        try BenchmarkReport.writeJSON(results, to: output.results)
        let table = markdown(results, machine: machine)
        try BenchmarkReport.replaceSection("train", with: table, in: output.markdown)
        print(table)
    }

    private func syntheticData() throws -> Dataset {
        var random = SplitMix64(seed: 0)
        let features = (0..<(rows * 784)).map { _ in Float(random.nextGaussian()) }
        let targets = (0..<rows).map { _ in Float(random.next() % 10) }
        return try Dataset(features: features, targets: targets, featureCount: 784)
    }

    private func fedmqEpoch(_ data: Dataset) throws -> Double {
        let spec = ModelSpec(kind: .mlp, inputs: 784, hidden: [128], outputs: 10)
        var parameters = try spec.initialParameters(seed: 1)
        var trainer = try Trainer(spec: spec, config: TrainingConfig(learningRate: 0.01, batchSize: 64, epochs: 1))
        var random = SplitMix64(seed: 2)
        let clock = ContinuousClock()
        let start = clock.now
        _ = try trainer.train(&parameters, on: data, random: &random)
        let elapsed = clock.now - start
        return Double(rows) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }

    private func peerEpochs(_ framework: String, runs: Int) throws -> [Double] {
        let data = try PythonScript.run(
            python, [peerScript, framework, "\(rows)", "\(runs)"], hint: "run 'make bench-train', which creates it with numpy and torch")
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: [Double]], let rates = object["samples_per_second"] else {
            throw CommandFailure("\(framework) peer printed no samples_per_second")
        }
        return rates
    }

    private func markdown(_ results: [BenchmarkResult], machine: String) -> String {
        var lines = [
            "## Training speed (`make bench-train`)",
            "",
            "One epoch of an MLP 784-128-10 (ReLU, softmax cross-entropy, SGD lr 0.01, batch 64) on",
            "\(rows) rows of synthetic float32 data, one thread each (FedMQ: OpenBLAS with one thread;",
            "numpy and PyTorch with `OMP_NUM_THREADS=1` and `torch.set_num_threads(1)`). Only the epoch is",
            "timed. Medians of \(output.runs) runs, spread min–max. Machine: \(machine).",
            "",
            "| peer | FedMQ samples/s | peer samples/s | ratio | spread FedMQ | spread peer | goal | met |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for result in results {
            lines.append(
                "| \(result.peerName) | \(BenchmarkReport.format(result.fedmq)) | \(BenchmarkReport.format(result.peer)) "
                    + "| \(BenchmarkReport.format(result.ratio, digits: 2)) | \(BenchmarkReport.spread(result.runs.map(\.fedmq))) "
                    + "| \(BenchmarkReport.spread(result.runs.map(\.peer))) | \(result.goal) | \(result.goalMet ? "yes" : "no") |")
        }
        lines += ["", "Figures: `bench/results/train.json`. The goal is set against PyTorch."]
        return lines.joined(separator: "\n")
    }
}
