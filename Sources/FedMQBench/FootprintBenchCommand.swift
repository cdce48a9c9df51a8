import ArgumentParser
import FedMQCommandLine
import FedMQLocalBroker
import Foundation

/// `fedmq bench footprint`: what an agent costs a device: binary size, idle and training
/// memory, and CPU while idle and connected, beside a Flower client where one compares.
struct FootprintBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "footprint",
        abstract: "Agent footprint: binary size (dynamic, static), idle and training RSS, idle CPU in 60 s, beside a Flower client."
    )

    @Option(help: "JSON results file.") var results = "bench/results/footprint.json"
    @Option(help: "Markdown file whose footprint section is rewritten.") var markdown = "docs/benchmarks.md"
    @Option(name: .customLong("dynamic-agent"), help: "fedmq-agent linked against the shared Swift runtime.")
    var dynamicAgent = ".build/release/fedmq-agent"
    @Option(name: .customLong("idle-seconds"), help: "How long the connected agent is watched with no round open.") var idleSeconds = 60.0
    @Option(help: "Python interpreter with flwr 1.42 installed.") var python = "bench/.venv/bin/python"
    @Option(help: "The harness that launches and measures both systems.") var harness = "bench/flower/harness.py"
    @Option(help: "The shared task's folder.") var task = "bench/task"

    func run() async throws {
        let machine = BenchmarkReport.machine()
        let executables = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let staticAgent = try siblingExecutable("fedmq-agent", in: executables)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-bench-footprint-\(UUID().uuidString)").path
        let harness = Harness(python: python, script: harness)

        let sizes = try [("dynamic", dynamicAgent), ("static", staticAgent)].map { kind, path in
            (kind: kind, file: try Self.size(of: path), stripped: try Self.strippedSize(of: path, work: work))
        }
        let idleSetup = try TaskJobSetup(model: "mlp", split: "iid", rounds: 30, taskDirectory: task, work: work + "/idle", executables: executables)
        let idleAgent = try harness.idle(["idle-fedmq", "--spec", idleSetup.specPath, "--seconds", "\(idleSeconds)"])
        let idleFlower = try harness.idle(["idle-flower", "--work", work + "/idle-flower", "--seconds", "\(idleSeconds)"])
        let trainSetup = try TaskJobSetup(
            model: "mlp", split: "iid", rounds: 30, taskDirectory: task, work: work + "/train", executables: executables)
        let training = try harness.job(["fedmq", "--spec", trainSetup.specPath])
        let flowerTraining = try harness.job(["flower", "--model", "mlp", "--split", "iid", "--work", work + "/train-flower"])

        let flowerName = "Flower 1.42 client (start_client, numpy)"
        func figure(
            _ name: String, _ metric: String, _ fedmq: Double, _ peer: Double, _ peerName: String, goal: String = "reported", met: Bool = true
        ) -> BenchmarkResult {
            BenchmarkResult(
                name: name, metric: metric, fedmq: fedmq, peer: peer, peerName: peerName, goal: goal, goalMet: met, machine: machine,
                runs: [.init(fedmq: fedmq, peer: peer)])
        }
        let mib = 1_048_576.0
        let figures =
            sizes.flatMap { size in
                [
                    figure("footprint-binary-\(size.kind)", "fedmq-agent file size, \(size.kind) (MiB)", Double(size.file) / mib, 0, "none"),
                    figure(
                        "footprint-binary-\(size.kind)-stripped", "fedmq-agent size stripped, \(size.kind) (MiB)", Double(size.stripped) / mib, 0,
                        "none"),
                ]
            } + [
                figure(
                    "footprint-idle-rss", "RSS of a connected agent with no round open (MiB)", idleAgent.idleRssMib, idleFlower.idleRssMib, flowerName
                ),
                figure(
                    "footprint-training-peak-rss", "peak RSS over a 30-round MLP job (MiB)", training.clientPeakRssMib,
                    flowerTraining.clientPeakRssMib, flowerName),
                figure(
                    "footprint-idle-cpu", "CPU seconds in \(Int(idleSeconds)) s idle and connected", idleAgent.idleCpuSeconds,
                    idleFlower.idleCpuSeconds, flowerName,
                    goal: "< 0.05 s (no polling)", met: idleAgent.idleCpuSeconds < 0.05),
            ]
        try BenchmarkReport.writeJSON(figures, to: results)
        var lines = [
            "## Agent footprint (`make bench-footprint`)",
            "",
            "`fedmq-agent` as built by `swift build -c release`, linked against the shared Swift runtime (dynamic) or with",
            "`--static-swift-stdlib` (static, what a device without Swift needs); stripped sizes from `strip` on a copy. RSS",
            "and CPU are from the same harness as the Flower comparison: an agent connected to a private mosquitto with no",
            "aggregator (so no round ever opens) for \(Int(idleSeconds)) s, and the largest agent's peak over the task's 30-round",
            "MLP job (static build). The Flower client runs the same task in numpy. Machine: \(machine).",
            "",
            "| figure | FedMQ agent | Flower client | goal | met |",
            "|---|---|---|---|---|",
        ]
        for result in figures {
            let peer = result.peerName == "none" ? "–" : BenchmarkReport.format(result.peer, digits: 2)
            lines.append(
                "| \(result.metric) | \(BenchmarkReport.format(result.fedmq, digits: 2)) | \(peer) | \(result.goal) | \(result.goal == "reported" ? "–" : result.goalMet ? "yes" : "**no**") |"
            )
        }
        lines += ["", "Figures: `bench/results/footprint.json`."]
        let text = lines.joined(separator: "\n")
        try BenchmarkReport.replaceSection("footprint", with: text, in: markdown)
        print(text)
        try? FileManager.default.removeItem(atPath: work)
    }

    static func size(of path: String) throws -> Int {
        guard let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int else {
            throw CommandFailure("\(path): cannot read its size; build it first")
        }
        return size
    }

    /// The size after `strip` on a copy (the build's own file is left as it is).
    static func strippedSize(of path: String, work: String) throws -> Int {
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let copy = work + "/stripped-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        try Programs.run("strip", ["--strip-all", copy])
        return try size(of: copy)
    }
}
