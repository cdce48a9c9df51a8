import ArgumentParser
import FedMQCommandLine
import FedMQCore
import Foundation

/// `fedmq bench flower`: the shared task (bench/task/TASK.md) run by FedMQ (broker, aggregator
/// and 10 agent processes) and by Flower 1.42 (a server and 10 client processes over gRPC),
/// one after the other in the same run, both launched and measured by bench/flower/harness.py.
struct FlowerBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flower",
        abstract: "FedMQ vs Flower on the shared digits task: accuracy, wall time, CPU, memory, bytes, idle CPU."
    )

    @OptionGroup var output: BenchOutputOptions
    @Option(help: "Rounds per job.") var rounds = 30
    @Option(name: .customLong("config"), help: "Task variants: logreg-iid, logreg-noniid, mlp-iid, mlp-noniid (repeatable).")
    var configs = ["logreg-iid", "logreg-noniid", "mlp-iid", "mlp-noniid"]
    @Option(help: "Python interpreter with flwr 1.42 installed.") var python = "bench/.venv/bin/python"
    @Option(help: "The harness that launches and measures both systems.") var harness = "bench/flower/harness.py"
    @Option(help: "The shared task's folder (TASK.md, data/).") var task = "bench/task"
    @Option(name: .customLong("idle-seconds"), help: "How long a connected client is watched with no round open.")
    var idleSeconds = 30.0
    @Option(name: .customLong("deployment-config"), help: "Task variants also run against Flower's SuperLink/SuperNode deployment (repeatable).")
    var deploymentConfigs = ["logreg-iid"]
    @Option(name: .customLong("deployment-runs"), help: "Runs against the deployment runtime (each takes about 20 s a round).")
    var deploymentRuns = 1

    func validate() throws {
        for config in configs + deploymentConfigs where Self.variant(config) == nil {
            throw ValidationError("--config \(config): use logreg-iid, logreg-noniid, mlp-iid or mlp-noniid")
        }
        guard rounds >= 1, idleSeconds > 0, deploymentRuns >= 1 else {
            throw ValidationError("--rounds, --idle-seconds and --deployment-runs must be positive")
        }
    }

    static func variant(_ config: String) -> (model: String, split: String)? {
        let parts = config.split(separator: "-").map(String.init)
        guard parts.count == 2, ["logreg", "mlp"].contains(parts[0]), ["iid", "noniid"].contains(parts[1]) else { return nil }
        return (parts[0], parts[1])
    }

    func run() async throws {
        let machine = BenchmarkReport.machine()
        let executables = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-bench-flower-\(UUID().uuidString)").path
        var results: [BenchmarkResult] = []
        var sections: [String] = []
        // Each variant against Flower's start_server/start_client, then against its deployment runtime.
        let comparisons = configs.map { (config: $0, mode: "flower") } + deploymentConfigs.map { (config: $0, mode: "flower-deployment") }
        for (config, mode) in comparisons {
            let (model, split) = Self.variant(config)!
            let deployment = mode == "flower-deployment"
            let name = deployment ? "deployment-\(config)" : config
            var pairs: [(fedmq: JobMeasurement, flower: JobMeasurement)] = []
            for run in 1...(deployment ? deploymentRuns : output.runs) {
                // A busy machine would slow one side's run more than the other's: say so with the figures.
                let load = BenchmarkReport.loadAverage()
                if load > Double(ProcessInfo.processInfo.activeProcessorCount) / 2 {
                    print(String(format: "warning: load average %.2f before %@ run %d: the machine is busy", load, config, run))
                }
                let setup = try TaskJobSetup(
                    model: model, split: split, rounds: rounds, taskDirectory: task, work: "\(work)/\(name)-\(run)/fedmq", executables: executables)
                let fedmq = try measure(["fedmq", "--spec", setup.specPath])
                let flower = try measure([
                    mode, "--model", model, "--split", split, "--rounds", "\(rounds)", "--work", "\(work)/\(name)-\(run)/flower",
                ])
                print(
                    String(
                        format: "%@ run %d (load %.2f): accuracy %.4f / %.4f, launch to result %.1f s / %.1f s, CPU %.1f s / %.1f s (FedMQ / %@)",
                        config, run, load, fedmq.accuracy, flower.accuracy, fedmq.launchToResult, flower.launchToResult, fedmq.cpuSeconds,
                        flower.cpuSeconds, mode))
                pairs.append((fedmq, flower))
            }
            // The deployment's HTTP connections come and go between samples: their link bytes are not measured.
            let rows = JobMeasurement.figures.filter { !deployment || $0.id != "client-link-bytes" }.map { figure in
                result(
                    name: "flower-\(name)-\(figure.id)", metric: figure.metric, goal: figure.goal, check: figure.check, machine: machine,
                    runs: pairs.map { .init(fedmq: figure.value($0.fedmq), peer: figure.value($0.flower)) },
                    peerName: deployment ? Self.deploymentPeer : "Flower 1.42 (start_server / start_client, gRPC; telemetry off)")
            }
            results += rows
            let title = "\(model == "mlp" ? "MLP 64-32-10" : "Logistic regression"), \(split == "iid" ? "IID" : "non-IID (Dirichlet 0.5)")"
            sections.append(
                table(deployment ? "\(title), against Flower's deployment runtime (SuperLink + 10 SuperNodes + `flwr run`)" : title, rows))
        }
        let idle = try idleCPU(work: work, executables: executables, machine: machine)
        results.append(idle)
        sections.append(table("A connected client with no round open", [idle]))
        try BenchmarkReport.writeJSON(results, to: output.results)
        let text = markdown(sections, machine: machine)
        try BenchmarkReport.replaceSection("flower", with: text, in: output.markdown)
        print(text)
        try? FileManager.default.removeItem(atPath: work)
    }

    private func measure(_ arguments: [String]) throws -> JobMeasurement {
        try Harness(python: python, script: harness).job(arguments)
    }

    private func idleCPU(work: String, executables: URL, machine: String) throws -> BenchmarkResult {
        let setup = try TaskJobSetup(
            model: "logreg", split: "iid", rounds: rounds, taskDirectory: task, work: "\(work)/idle/fedmq", executables: executables)
        let harness = Harness(python: python, script: harness)
        let fedmq = try harness.idle(["idle-fedmq", "--spec", setup.specPath, "--seconds", "\(idleSeconds)"])
        let flower = try harness.idle(["idle-flower", "--work", "\(work)/idle/flower", "--seconds", "\(idleSeconds)"])
        return result(
            name: "flower-idle-client-cpu", metric: "CPU seconds of one connected client in \(Int(idleSeconds)) s with no round open",
            goal: "reported", check: nil, machine: machine, runs: [.init(fedmq: fedmq.idleCpuSeconds, peer: flower.idleCpuSeconds)])
    }

    static let deploymentPeer = "Flower 1.42 deployment runtime (flower-superlink, flower-supernode, flwr run; telemetry off)"

    private func result(
        name: String, metric: String, goal: String, check: ((Double, Double) -> Bool)?, machine: String, runs: [BenchmarkResult.Run],
        peerName: String = "Flower 1.42 (start_server / start_client, gRPC; telemetry off)"
    ) -> BenchmarkResult {
        BenchmarkResult(name: name, metric: metric, peerName: peerName, goal: goal, check: check, machine: machine, runs: runs)
    }

    private func table(_ title: String, _ rows: [BenchmarkResult]) -> String {
        BenchmarkReport.comparisonTable(title, rows, peer: "Flower")
    }

    private func markdown(_ sections: [String], machine: String) -> String {
        ([
            "## Versus Flower (`make bench-flower`)",
            "",
            "The shared task digits-fedavg-10 (`bench/task/TASK.md`): 10 clients, \(rounds) rounds, one epoch of SGD per round, FedAvg",
            "weighted by shard size, central evaluation after every round. FedMQ runs as mosquitto + `fedmq-aggregator` + 10",
            "`fedmq-agent` processes; Flower 1.42 as a `start_server` process + 10 `start_client` processes over gRPC, with the",
            "same numpy math as `bench/reference_fedavg.py`, and telemetry off (`FLWR_TELEMETRY_ENABLED=0`, as Flower's docs advise",
            "for a machine without internet access). FedMQ and Flower runs alternate; each run's load average is printed, with a",
            "warning when the machine is busy. `bench/flower/harness.py` launches and measures both the same way:",
            "CPU seconds and peak RSS from each process's `wait4` rusage, taken by `bench/flower/launch.c`, which forks it (a process",
            "Python forked would report Python's own peak as its floor; FedMQ's total includes mosquitto), the rounds' wall time",
            "from the moment all 10 clients are connected to the last round's evaluation, launch to result from starting the",
            "first process to that evaluation. Bytes on the wire are measured twice, both over the whole job divided by the rounds",
            "(so start-up handshakes count): on the clients' own TCP connections (sent + received, polled from `ss`; what crosses",
            "the devices' links), and on the loopback interface (`/proc/net/dev`; every hop, including FedMQ's broker-to-",
            "aggregator hop, which a deployment keeps on the server machine). Medians of",
            "\(output.runs) runs; spreads are min–max. Absolute times are specific to this machine: \(machine).",
            "Flower's deployment runtime (a SuperLink, 10 SuperNodes and `flwr run` submitting the same task as a Flower App,",
            "`bench/flower/app`) is measured too, for \(deploymentConfigs.joined(separator: ", ")): there each SuperNode runs the ClientApp in",
            "processes of its own, so CPU and peak RSS are summed over each SuperNode's whole process session (sampled from /proc",
            "every 0.2 s: lower bounds), and the server side is the SuperLink's session. Its rounds take",
            "about 20 s each here (the SuperNodes poll the SuperLink), so it is run \(deploymentRuns) time(s).",
            "",
        ] + sections.flatMap { [$0, ""] } + ["Figures: `bench/results/flower.json`."]).joined(separator: "\n")
    }
}

extension JobMeasurement {
    /// The figures compared, with their goals (issue #23's: ratios of medians in one run).
    static let figures:
        [(id: String, metric: String, value: @Sendable (JobMeasurement) -> Double, goal: String, check: (@Sendable (Double, Double) -> Bool)?)] = [
            ("accuracy", "final test accuracy", \.accuracy, "within 1 point", { abs($0 - $1) <= 0.01 }),
            ("rounds-wall", "wall time of the rounds (s)", \.roundsWall, "<= 0.3x Flower", { $0 <= 0.3 * $1 }),
            ("launch-to-result", "wall time, launch to result (s)", \.launchToResult, "<= 1/10 of Flower", { $0 <= $1 / 10 }),
            ("cpu", "CPU seconds, all processes", \.cpuSeconds, "<= 0.05x Flower", { $0 <= 0.05 * $1 }),
            ("server-rss", "peak RSS, aggregator / server (MiB)", \.serverPeakRssMib, "reported", nil),
            (
                "client-rss", "peak RSS, largest agent / client (MiB)", \.clientPeakRssMib, "<= 12 MiB and <= 0.1x Flower",
                { $0 <= 12 && $0 <= 0.1 * $1 }
            ),
            ("client-link-bytes", "bytes per round on the 10 clients' connections", { $0.clientLinkBytesPerRound ?? .nan }, "reported", nil),
            ("loopback-bytes", "bytes per round on loopback (all hops)", \.loopbackBytesPerRound, "reported", nil),
        ]
}
