import ArgumentParser
import FedMQCommandLine
import FedMQCore
import Foundation

/// `fedmq bench sensors`: a 1D CNN on sensor windows (BasicMotions, JapaneseVowels), split among
/// 10 agents IID and by Dirichlet 0.5: FedMQ (broker, aggregator, 10 agents training natively)
/// beside Flower 1.42 with PyTorch (a server and 10 clients training the same architecture from
/// the same initial weights with the same hyper-parameters), alternating, measured by
/// bench/flower/harness.py.
struct SensorsBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sensors",
        abstract: "Native 1D CNN vs Flower + PyTorch on sensor windows: accuracy, an agent's CPU per round and peak memory."
    )

    @OptionGroup var output: BenchOutputOptions
    @Option(help: "Rounds per job.") var rounds = 20
    @Option(help: "Python interpreter with flwr 1.42 and torch installed.") var python = "bench/.venv/bin/python"
    @Option(help: "The harness that launches and measures both systems.") var harness = "bench/flower/harness.py"
    @Option(help: "The folder of the shipped data sets.") var data = "data"
    @Flag(help: "Instead: FedMQ agents training with examples/pytorch/trainer.py (the external trainer path) beside Flower + PyTorch, one run.")
    var external = false

    static let peerName = "Flower 1.42 + PyTorch (start_server / start_client, gRPC; telemetry off; one torch thread per process)"
    /// The data sets: file prefix, title, and channels x length x classes.
    static let datasets: [(name: String, title: String, shape: (channels: Int, length: Int, classes: Int))] = [
        ("basic_motions", "BasicMotions", (6, 100, 4)), ("japanese_vowels", "JapaneseVowels", (12, 29, 9)),
    ]
    static let splits: [(id: String, title: String, partitioner: Partitioner)] = [
        ("iid", "IID", .iid), ("dirichlet", "Dirichlet 0.5", .dirichlet(alpha: 0.5)),
    ]

    func run() async throws {
        let machine = BenchmarkReport.machine()
        let executables = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-bench-sensors-\(UUID().uuidString)").path
        let measure = Harness(python: python, script: harness)
        if external {
            let results = try externalTrainer(work: "\(work)/external", executables: executables, machine: machine)
            try BenchmarkReport.writeJSON(results, to: output.results)
            let text = externalMarkdown(
                BenchmarkReport.comparisonTable("BasicMotions, IID, one run", results, peer: "Flower + PyTorch"), machine: machine)
            try BenchmarkReport.replaceSection("sensors-external", with: text, in: output.markdown)
            print(text)
            try? FileManager.default.removeItem(atPath: work)
            return
        }
        var results: [BenchmarkResult] = []
        var sections: [String] = []
        for dataset in Self.datasets {
            for split in Self.splits {
                let name = "\(dataset.name)-\(split.id)"
                let setup = try SensorJobSetup(
                    data: data, name: dataset.name, shape: dataset.shape, partition: split.partitioner, rounds: rounds, work: "\(work)/\(name)",
                    executables: executables)
                var pairs: [(fedmq: JobMeasurement, flower: JobMeasurement)] = []
                for run in 1...output.runs {
                    let load = BenchmarkReport.loadAverage()
                    if load > Double(ProcessInfo.processInfo.activeProcessorCount) / 2 {
                        print(String(format: "warning: load average %.2f before %@ run %d: the machine is busy", load, name, run))
                    }
                    try? FileManager.default.removeItem(atPath: "\(work)/\(name)/fedmq")
                    let fedmq = try measure.job(["fedmq", "--spec", setup.fedmqSpecPath])
                    let flower = try measure.job(["flower-sensors", "--sensors", setup.flowerJobPath, "--work", "\(work)/\(name)/flower-\(run)"])
                    print(
                        String(
                            format: "%@ run %d (load %.2f): accuracy %.4f / %.4f, agent CPU per round %.3f s / %.3f s, agent RSS %.1f / %.1f MiB",
                            name, run, load, fedmq.accuracy, flower.accuracy, agentCPU(fedmq, role: "agent", agents: setup.agents),
                            agentCPU(flower, role: "client", agents: setup.agents),
                            fedmq.clientPeakRssMib, flower.clientPeakRssMib))
                    pairs.append((fedmq, flower))
                }
                let central = try centralAccuracies(setup, work: "\(work)/\(name)")
                let rows = figures(name: name, pairs: pairs, central: central, agents: setup.agents, machine: machine)
                results += rows
                sections.append(
                    BenchmarkReport.comparisonTable(
                        "\(dataset.title), \(split.title) (\(setup.agents) agents with data)", rows, peer: "Flower + PyTorch"))
            }
        }
        try BenchmarkReport.writeJSON(results, to: output.results)
        let text = markdown(sections, machine: machine)
        try BenchmarkReport.replaceSection("sensors", with: text, in: output.markdown)
        print(text)
        try? FileManager.default.removeItem(atPath: work)
    }

    /// FedMQ's agents training the same CNN with `examples/pytorch/trainer.py` (the external
    /// trainer path) beside Flower + PyTorch: the same PyTorch training, FedMQ's transport,
    /// aggregation and evaluation. Each agent starts the script (and imports torch) every round.
    private func externalTrainer(work: String, executables: URL, machine: String) throws -> [BenchmarkResult] {
        let dataset = Self.datasets[0]
        // Absolute paths: the agents run their trainer in its work folder.
        func absolute(_ path: String) -> String {
            let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
            return URL(fileURLWithPath: full).standardizedFileURL.path
        }
        let trainer = [absolute(python), absolute((harness as NSString).deletingLastPathComponent + "/../../examples/pytorch/trainer.py")]
        let setup = try SensorJobSetup(
            data: data, name: dataset.name, shape: dataset.shape, partition: .iid, rounds: rounds, work: work, executables: executables,
            trainer: trainer)
        let measure = Harness(python: python, script: harness)
        let fedmq = try measure.job(["fedmq", "--spec", setup.fedmqSpecPath, "--timeout", "3600"])
        let flower = try measure.job(["flower-sensors", "--sensors", setup.flowerJobPath, "--work", "\(work)/flower"])
        print(String(format: "external trainer: accuracy %.4f / %.4f", fedmq.accuracy, flower.accuracy))
        return [
            BenchmarkResult(
                name: "sensors-external-trainer-accuracy", metric: "federated test accuracy after \(rounds) rounds",
                peerName: Self.peerName, goal: "within 1 point", check: { abs($0 - $1) <= 0.01 }, machine: machine,
                runs: [.init(fedmq: fedmq.accuracy, peer: flower.accuracy)]),
            BenchmarkResult(
                name: "sensors-external-trainer-agent-cpu", metric: "CPU seconds per round of one agent (its trainer included) / client",
                peerName: Self.peerName, goal: "reported", check: nil, machine: machine,
                runs: [
                    .init(
                        fedmq: agentCPU(fedmq, role: "agent", agents: setup.agents), peer: agentCPU(flower, role: "client", agents: setup.agents))
                ]),
        ]
    }

    /// CPU seconds one agent (client) spent per round: all of them over agents and rounds.
    private func agentCPU(_ job: JobMeasurement, role: String, agents: Int) -> Double {
        (job.cpuByRole?[role] ?? .nan) / Double(agents) / Double(rounds)
    }

    /// Pooled training for as many epochs as each agent trains in the whole job: FedMQ's trainer
    /// here, PyTorch by bench/flower/sensors.py.
    private func centralAccuracies(_ setup: SensorJobSetup, work: String) throws -> (native: Double, pytorch: Double) {
        let epochs = rounds * SensorJobSetup.training.epochs
        let native = try setup.centralAccuracy(epochs: epochs)
        let out = work + "/central-pytorch.json"
        _ = try PythonScript.run(
            python,
            [
                URL(fileURLWithPath: harness).deletingLastPathComponent().appendingPathComponent("sensors.py").path, "central", "--spec",
                setup.specPath,
                "--initial", setup.initialPath, "--train", URL(fileURLWithPath: "\(data)/\(setup.trainName)").standardized.path, "--test",
                setup.testPath,
                "--training", setup.trainingPath, "--epochs", "\(epochs)", "--out", out,
            ], hint: "run 'make bench-sensors', which installs torch and flwr into it", environment: Harness.peerEnvironment)
        let result = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any]
        return (native, (result?["accuracy"] as? Double) ?? .nan)
    }

    private func figures(
        name: String, pairs: [(fedmq: JobMeasurement, flower: JobMeasurement)], central: (native: Double, pytorch: Double), agents: Int,
        machine: String
    ) -> [BenchmarkResult] {
        func result(_ id: String, _ metric: String, goal: String, check: ((Double, Double) -> Bool)?, runs: [BenchmarkResult.Run]) -> BenchmarkResult
        {
            BenchmarkResult(
                name: "sensors-\(name)-\(id)", metric: metric, peerName: Self.peerName, goal: goal, check: check, machine: machine, runs: runs)
        }
        return [
            result(
                "accuracy", "federated test accuracy after \(rounds) rounds", goal: "within 1 point", check: { abs($0 - $1) <= 0.01 },
                runs: pairs.map { .init(fedmq: $0.fedmq.accuracy, peer: $0.flower.accuracy) }),
            result(
                "central-accuracy", "centralized test accuracy (\(rounds * SensorJobSetup.training.epochs) epochs on the pooled windows)",
                goal: "reported", check: nil, runs: [.init(fedmq: central.native, peer: central.pytorch)]),
            result(
                "agent-cpu", "CPU seconds per round of one agent / client", goal: "<= 1/3 of Flower", check: { $0 <= $1 / 3 },
                runs: pairs.map {
                    .init(fedmq: agentCPU($0.fedmq, role: "agent", agents: agents), peer: agentCPU($0.flower, role: "client", agents: agents))
                }),
            result(
                "agent-rss", "peak RSS of the largest agent / client (MiB)", goal: "<= 1/5 of Flower", check: { $0 <= $1 / 5 },
                runs: pairs.map { .init(fedmq: $0.fedmq.clientPeakRssMib, peer: $0.flower.clientPeakRssMib) }),
            result(
                "rounds-wall", "wall time of the rounds (s)", goal: "reported", check: nil,
                runs: pairs.map { .init(fedmq: $0.fedmq.roundsWall, peer: $0.flower.roundsWall) }),
        ]
    }

    private func externalMarkdown(_ table: String, machine: String) -> String {
        [
            "## The external trainer path versus Flower + PyTorch (`make bench-sensors`)",
            "",
            "The same CNN and BasicMotions IID shards as above, \(rounds) rounds, but FedMQ's 10 agents train with the PyTorch example",
            "trainer (`examples/pytorch/trainer.py`, `trainer` in their configs) instead of natively: the same PyTorch training code",
            "as Flower's clients (`examples/pytorch/fedmq_torch.py`), with FedMQ's transport, FedAvg and central evaluation. Each agent",
            "starts the script every round, so its CPU includes starting Python and importing torch each round; a Flower client",
            "imports torch once. One run (each takes minutes). Machine: \(machine).",
            "",
            table, "", "Figures: `bench/results/sensors-external.json`.",
        ].joined(separator: "\n")
    }

    private func markdown(_ sections: [String], machine: String) -> String {
        ([
            "## Sensor windows versus Flower + PyTorch (`make bench-sensors`)",
            "",
            "A 1D CNN (conv 16x3, ReLU, conv 16x3, ReLU, global average pooling, dense) on the shipped BasicMotions (6 channels x",
            "100 readings, 4 activities) and JapaneseVowels (12 channels x 29 frames, 9 speakers) windows, each training set dealt",
            "to 10 agents IID and by Dirichlet 0.5 (seed 0), \(rounds) rounds of 2 local epochs (SGD, lr 0.05, momentum 0.9, batch 8),",
            "FedAvg weighted by examples, central evaluation on the test windows after every round. FedMQ runs mosquitto,",
            "`fedmq-aggregator` and 10 `fedmq-agent` processes training the `sequential` model natively; Flower 1.42 a `start_server`",
            "process and 10 `start_client` processes training the same layers in PyTorch (`bench/flower/sensors.py`, built by",
            "`examples/pytorch/fedmq_torch.py` from FedMQ's spec, so both start from the same initial weights), telemetry off,",
            "one torch thread per process as FedMQ's one OpenBLAS thread. Shuffles differ (SplitMix64 against torch's generator), so",
            "accuracies differ by chance as well as by arithmetic; with 40 test windows (BasicMotions) one window is 2.5 points.",
            "CPU and peak RSS come from each process's `wait4` rusage (`bench/flower/harness.py`, through `bench/flower/launch.c`). Centralized accuracy: the",
            "same model trained on the pooled windows for as many epochs as each agent trains in the job. Medians of",
            "\(output.runs) alternating runs; spreads are min–max. Machine: \(machine).",
            "",
        ] + sections.flatMap { [$0, ""] } + ["Figures: `bench/results/sensors.json`."]).joined(separator: "\n")
    }
}
