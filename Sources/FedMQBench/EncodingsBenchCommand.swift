import ArgumentParser
import FedMQCommandLine
import FedMQCore
import Foundation

/// `fedmq bench encodings`: bytes per update and final accuracy of float16 and int8 updates,
/// and of top-k sparsified ones, beside float32, on the shared digits task run as real
/// processes (broker, aggregator, 10 agents).
struct EncodingsBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encodings",
        abstract: "Update encodings: bytes per update and final accuracy of float16, int8 and top-k vs float32."
    )

    /// One way of sending updates: an encoding, optionally with top-k sparsification.
    struct Variant: Hashable {
        var encoding: TensorEncoding
        var topK: Double?

        var name: String { encoding.rawValue + (topK.map { "-top\(Int(($0 * 100).rounded()))" } ?? "") }
        var label: String { encoding.rawValue + (topK.map { " + top-k \(Int(($0 * 100).rounded()))%" } ?? "") }
        /// Only plain int8 carries the issue's bytes goal.
        var bytesGoal: Double? { self == Variant(encoding: .int8) ? 3.9 : nil }

        static let baseline = Variant(encoding: .float32)
        static let all = [
            baseline, Variant(encoding: .float16), Variant(encoding: .int8), Variant(encoding: .float32, topK: 0.1),
            Variant(encoding: .int8, topK: 0.1),
        ]
    }

    @OptionGroup var output: BenchOutputOptions
    @Option(help: "Rounds per job.") var rounds = 30
    @Option(name: .customLong("model"), help: "logreg, mlp (the task's) or mlp256 (a wider MLP) (repeatable).")
    var models = ["logreg", "mlp", "mlp256"]
    @Option(help: "Python interpreter for the harness (the standard library is enough).") var python = "python3"
    @Option(help: "The harness that launches and measures the job.") var harness = "bench/flower/harness.py"
    @Option(help: "The shared task's folder.") var task = "bench/task"

    func validate() throws {
        guard models.allSatisfy(["logreg", "mlp", "mlp256"].contains) else { throw ValidationError("--model takes logreg, mlp or mlp256") }
    }

    func run() async throws {
        let machine = BenchmarkReport.machine()
        let executables = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-bench-encodings-\(UUID().uuidString)").path
        var results: [BenchmarkResult] = []
        var rows: [String] = []
        for model in models {
            var measured: [Variant: [(bytes: Double, accuracy: Double)]] = [:]
            for run in 1...output.runs {
                for variant in Variant.all {
                    let setup = try TaskJobSetup(
                        model: model, split: "iid", rounds: rounds, encoding: variant.encoding, topK: variant.topK, taskDirectory: task,
                        work: "\(work)/\(model)-\(variant.name)-\(run)", executables: executables)
                    let job = try Harness(python: python, script: harness).job(["fedmq", "--spec", setup.specPath])
                    let bytes = (job.updateBytesPerRound ?? 0) / 10
                    measured[variant, default: []].append((bytes, job.accuracy))
                    print(String(format: "%@ %@ run %d: %.0f bytes per update, accuracy %.4f", model, variant.name, run, bytes, job.accuracy))
                }
            }
            let baseline = measured[.baseline] ?? []
            for variant in Variant.all.dropFirst() {
                let runs = measured[variant] ?? []
                let bytes = result(
                    name: "encodings-\(model)-\(variant.name)-bytes", metric: "bytes per update", machine: machine,
                    goal: variant.bytesGoal.map { "float32 / int8 >= \($0)" } ?? "reported",
                    check: variant.bytesGoal.map { goal in { $1 / $0 >= goal } },
                    runs: zip(runs, baseline).map { .init(fedmq: $0.bytes, peer: $1.bytes) })
                let accuracy = result(
                    name: "encodings-\(model)-\(variant.name)-accuracy", metric: "final test accuracy", machine: machine,
                    goal: "<= 1 point below float32", check: { $0 >= $1 - 0.01 },
                    runs: zip(runs, baseline).map { .init(fedmq: $0.accuracy, peer: $1.accuracy) })
                results += [bytes, accuracy]
                rows.append(
                    "| \(model) | \(variant.label) | \(BenchmarkReport.format(bytes.fedmq)) | \(BenchmarkReport.format(bytes.peer)) "
                        + "| \(BenchmarkReport.format(bytes.peer / bytes.fedmq, digits: 2))x | \(bytes.goal == "reported" ? "–" : bytes.goalMet ? "yes" : "**no**") "
                        + "| \(BenchmarkReport.format(accuracy.fedmq, digits: 4)) | \(BenchmarkReport.format(accuracy.peer, digits: 4)) "
                        + "| \(BenchmarkReport.spread(runs.map(\.accuracy), digits: 4)) | \(accuracy.goalMet ? "yes" : "**no**") |")
            }
        }
        try BenchmarkReport.writeJSON(results, to: output.results)
        let text =
            ([
                "## Update encodings (`make bench-encodings`)",
                "",
                "The shared digits task (IID, 10 agents, \(rounds) rounds, FedAvg) run as real processes, once per encoding; bytes",
                "per update are the payloads the aggregator received (safetensors with FedMQ's metadata and, for int8, a scale per",
                "tensor) divided by the updates. `mlp` is the task's 64-32-10 MLP (2,410 parameters), `mlp256` a wider 64-256-10",
                "MLP (19,210 parameters) on the same data. Top-k rows: each agent sends the largest 10% of each tensor's entries",
                "(values, and their positions as a bitmap or as 4-byte indices, whichever is smaller) and holds the rest back for",
                "later rounds (`--top-k 0.1`, error feedback). The peer is",
                "float32 in the same run. Medians of \(output.runs) runs (spread min–max; agents quantize int8 to nearest, so runs",
                "repeat exactly). Machine: \(machine).",
                "",
                "| model | encoding | bytes per update | float32 bytes | reduction | goal >= 3.9x met | accuracy | float32 accuracy | spread | within 1 point |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ] + rows + ["", "Figures: `bench/results/encodings.json`."]).joined(separator: "\n")
        try BenchmarkReport.replaceSection("encodings", with: text, in: output.markdown)
        print(text)
        try? FileManager.default.removeItem(atPath: work)
    }

    private func result(name: String, metric: String, machine: String, goal: String, check: ((Double, Double) -> Bool)?, runs: [BenchmarkResult.Run])
        -> BenchmarkResult
    {
        BenchmarkResult(
            name: name, metric: metric, peerName: "FedMQ with float32 updates (same run)", goal: goal, check: check, machine: machine, runs: runs)
    }
}
