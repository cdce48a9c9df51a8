import ArgumentParser
import FedMQCommandLine
import FedMQCore
import FedMQRuntime
import Foundation

/// `fedmq bench heterogeneity`: on strongly non-IID splits (a Dirichlet(0.1) draw over labels)
/// of digits and of the BasicMotions sensor windows, the final accuracy of FedAvg, FedProx,
/// FedDF and FedAvg with client-side distillation (the agents' students on their own held-out
/// rows), each also with augmentation, beside FedAvg in the same run.
struct HeterogeneityBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heterogeneity",
        abstract: "FedAvg, FedProx, FedDF and client distillation, with and without augmentation, on non-IID digits and sensor windows."
    )

    @OptionGroup var output: BenchOutputOptions
    @Option(help: "Rounds per run.") var rounds = 30
    @Option(help: "Dirichlet concentration of the label split.") var alpha = 0.1

    /// A data set, its models and how it is dealt to the agents.
    struct Task: Sendable {
        var name: String
        var agents: Int
        var classes: Int
        var spec: ModelSpec
        var studentSpec: ModelSpec
        /// Window augmentations for rows that are sensor windows.
        var window: WindowAugmentation?
        /// Training rows and test rows (the test rows are halved into FedDF's public set and the evaluation rows).
        var load: @Sendable (UInt64) throws -> (train: Dataset, test: Dataset)
    }

    static let tasks = [
        Task(
            name: "digits", agents: 10, classes: 10, spec: ModelSpec(kind: .mlp, inputs: 64, hidden: [32], outputs: 10),
            studentSpec: ModelSpec(kind: .softmaxRegression, inputs: 64, outputs: 10), window: nil
        ) { seed in
            let all = try CSVReader.read(file: "data/digits.csv", options: CSVOptions(hasHeader: true, label: .name("label")))
            return try DataSplit.trainTest(all, testFraction: 0.2, classes: 10, seed: seed)
        },
        Task(
            name: "basic_motions", agents: 4, classes: 4, spec: ModelSpec(kind: .mlp, inputs: 600, hidden: [32], outputs: 4),
            studentSpec: ModelSpec(kind: .softmaxRegression, inputs: 600, outputs: 4),
            window: WindowAugmentation(channels: 6, length: 100, scaling: 0.1, magnitudeWarp: 0.2, timeShift: 10)
        ) { _ in
            let options = CSVOptions(hasHeader: true, label: .name("label"))
            return (
                try CSVReader.read(file: "data/basic_motions_train.csv", options: options),
                try CSVReader.read(file: "data/basic_motions_test.csv", options: options)
            )
        },
    ]

    /// One way of training the fleet.
    struct Setting {
        var name: String
        var key: String
        var training: TrainingConfig
        var serverDistillation: Bool
        var studentDistillation: Bool
    }

    /// What one run of one setting reached.
    struct Outcome {
        /// The global model on the held-out test rows.
        var accuracy: Double
        /// The global model on the agents' own held-out rows (example-weighted).
        var local: Double
        /// The agents' students on their own held-out rows (example-weighted), with client distillation.
        var students: Double?
    }

    func settings(_ task: Task) -> [Setting] {
        let plain = TrainingConfig(learningRate: 0.05, momentum: 0.9, batchSize: 32, epochs: 3)
        var proximal = plain
        proximal.proximalMu = 0.1
        let base = [
            Setting(name: "FedAvg", key: "fedavg", training: plain, serverDistillation: false, studentDistillation: false),
            Setting(name: "FedProx (mu 0.1)", key: "fedprox", training: proximal, serverDistillation: false, studentDistillation: false),
            Setting(name: "FedDF (server distillation)", key: "feddf", training: plain, serverDistillation: true, studentDistillation: false),
            Setting(name: "FedAvg + client distillation", key: "students", training: plain, serverDistillation: false, studentDistillation: true),
        ]
        return base
            + base.map { setting in
                var augmented = setting
                augmented.name += " + augmentation"
                augmented.key += "-augmented"
                augmented.training.augmentation = Augmentation(gaussianNoise: 0.1, mixupAlpha: 0.2, window: task.window)
                return augmented
            }
    }

    func run() throws {
        let machine = BenchmarkReport.machine()
        var results: [BenchmarkResult] = []
        var sections: [String] = []
        for task in Self.tasks {
            let settings = settings(task)
            var outcomes = [[Outcome]](repeating: [], count: settings.count)
            for run in 1...output.runs {
                let split = try federate(task, seed: UInt64(run))
                for (index, setting) in settings.enumerated() {
                    outcomes[index].append(try simulate(task, setting, split, seed: UInt64(run)))
                }
                print(
                    "\(task.name) run \(run): "
                        + zip(settings, outcomes).map { "\($0.key) \(String(format: "%.4f", $1.last?.accuracy ?? 0))" }.joined(separator: ", "))
            }
            for (index, setting) in settings.enumerated() {
                results.append(
                    BenchmarkResult(
                        name: "heterogeneity-\(task.name)-\(setting.key)", metric: "final test accuracy on \(task.name): \(setting.name)",
                        peerName: "FedAvg (same run)", goal: "reported", check: nil, machine: machine,
                        runs: zip(outcomes[index], outcomes[0]).map { .init(fedmq: $0.accuracy, peer: $1.accuracy) }))
                if setting.studentDistillation {
                    results.append(
                        BenchmarkResult(
                            name: "heterogeneity-\(task.name)-\(setting.key)-personalized",
                            metric:
                                "accuracy on the agents' own held-out rows of \(task.name): their students (\(setting.name)) against the global model",
                            peerName: "the same run's global model", goal: "reported", check: nil, machine: machine,
                            runs: outcomes[index].map { .init(fedmq: $0.students ?? 0, peer: $0.local) }))
                }
            }
            sections.append(table(task, settings: settings, outcomes: outcomes))
        }
        try BenchmarkReport.writeJSON(results, to: output.results)
        let text = markdown(sections: sections, machine: machine)
        try BenchmarkReport.replaceSection("heterogeneity", with: text, in: output.markdown)
        print(text)
    }

    /// The fleet's data: training rows scaled by their own statistics and dealt to the task's
    /// agents by Dirichlet(alpha), each agent holding out a fifth of its rows; the test rows
    /// halved into an unlabeled public set (FedDF's) and the evaluation rows.
    struct Split {
        var clients: [(train: Dataset, holdout: Dataset)]
        var publicRows: Dataset
        var test: Dataset
    }

    func federate(_ task: Task, seed: UInt64) throws -> Split {
        var (train, test) = try task.load(seed)
        let scaling = FeatureScaling.fit(train)
        try scaling.apply(to: &train)
        try scaling.apply(to: &test)
        let (evaluation, publicRows) = try DataSplit.trainTest(test, testFraction: 0.5, classes: task.classes, seed: seed)
        let parts = try Partitioner.dirichlet(alpha: alpha).partition(train, clients: task.agents, classes: task.classes, seed: seed)
        // A Dirichlet draw may leave an agent without rows: such an agent is not in the fleet.
        let clients = try parts.filter { !$0.isEmpty }.map { rows -> (train: Dataset, holdout: Dataset) in
            let part = train.subset(rows)
            guard part.count >= 5 else { return (part, part) }
            let (local, holdout) = try DataSplit.trainTest(part, testFraction: 0.2, classes: nil, seed: seed)
            return (local, holdout)
        }
        return Split(clients: clients, publicRows: publicRows, test: evaluation)
    }

    func simulate(_ task: Task, _ setting: Setting, _ split: Split, seed: UInt64) throws -> Outcome {
        let simulation = FederatedSimulation(
            spec: task.spec, clients: split.clients.map(\.train), rounds: rounds, training: setting.training, seed: seed)
        let strategy: any AggregationStrategy =
            setting.serverDistillation
            ? try EnsembleDistillation(
                settings: ServerDistillation(temperature: 2, epochs: 2, learningRate: 0.05), spec: task.spec, publicData: split.publicRows,
                weighting: .examples, seed: seed)
            : FedAvg(weighting: .examples)
        let distillation = DistillationConfig(student: task.studentSpec, alpha: 0.5, temperature: 3, epochs: 1, learningRate: 0.1)
        var students = try split.clients.map { _ in try task.studentSpec.initialParameters(seed: seed) }
        let model = try simulation.run(from: try task.spec.initialParameters(seed: seed), strategy: strategy) { _, _ in
        } afterRound: { round, global in
            guard setting.studentDistillation else { return }
            for (index, client) in split.clients.enumerated() {
                var random = SplitMix64(seed: seed &+ UInt64(round * 100 + index))
                try distillation.train(&students[index], teacher: global, teacherSpec: task.spec, on: client.train, random: &random)
            }
        }
        func weighted(_ accuracy: (Int) throws -> Double) throws -> Double {
            let sizes = split.clients.map { Double($0.holdout.count) }
            return try split.clients.indices.reduce(0) { $0 + (try accuracy($1)) * sizes[$1] } / sizes.reduce(0, +)
        }
        let local = try weighted { try Evaluation.evaluate(model, spec: task.spec, on: split.clients[$0].holdout).accuracy ?? 0 }
        let studentAccuracy =
            setting.studentDistillation
            ? try weighted { try Evaluation.evaluate(students[$0], spec: task.studentSpec, on: split.clients[$0].holdout).accuracy ?? 0 } : nil
        return Outcome(
            accuracy: try Evaluation.evaluate(model, spec: task.spec, on: split.test).accuracy ?? 0, local: local, students: studentAccuracy)
    }

    /// One task's table.
    func table(_ task: Task, settings: [Setting], outcomes: [[Outcome]]) -> String {
        func median(_ values: [Double]) -> String { BenchmarkReport.format(BenchmarkReport.median(values), digits: 4) }
        let baseline = outcomes[0].map(\.accuracy)
        var lines = [
            "**\(task.name)**: \(task.agents) agents, an MLP \(task.spec.layerSizes.map(String.init).joined(separator: "-")).", "",
            "| setting | test accuracy | vs FedAvg | on the agents' held-out rows |", "|---|---|---|---|",
        ]
        for (setting, runs) in zip(settings, outcomes) {
            let gain = BenchmarkReport.median(zip(runs, baseline).map { ($0.accuracy - $1) * 100 })
            let local =
                setting.studentDistillation
                ? "students \(median(runs.compactMap(\.students))), global \(median(runs.map(\.local)))" : "global \(median(runs.map(\.local)))"
            lines.append("| \(setting.name) | \(median(runs.map(\.accuracy))) | \(String(format: "%+.1f", gain)) points | \(local) |")
        }
        return lines.joined(separator: "\n")
    }

    func markdown(sections: [String], machine: String) -> String {
        let lines = [
            "## Heterogeneous data (`make bench-heterogeneity`)",
            "",
            "Two tasks, each split over its agents by a Dirichlet(\(alpha)) draw over labels (most agents see one to three classes):",
            "digits over 10 agents, and the BasicMotions smart-watch windows (6 channels x 100 readings, 4 activities, 40 training and",
            "40 test windows) over 4 agents. Three local epochs per round (SGD, lr 0.05, momentum 0.9, batch 32: the agents drift",
            "apart), \(rounds) rounds, every agent every round, in one process (the core's trainer and strategies). Each agent holds out",
            "a fifth of its rows (an agent with fewer than 5 evaluates on its own training rows; one the draw left empty is left out).",
            "Half the test rows are FedDF's",
            "unlabeled public set (temperature 2, 2 epochs per round), the other half the evaluation rows. Client distillation: each",
            "agent's softmax-regression student learns from every new global model (a 0.5, T 3, one epoch) and is evaluated on the",
            "agent's held-out rows. Augmentation: Gaussian noise 0.1 (standardized units) and mixup alpha 0.2, and for the windows",
            "channel scaling 0.1, magnitude warp 0.2 and time shifts of up to 10 readings. Medians of \(output.runs) runs, each with its",
            "own split and seed.",
            "",
        ]
        return (lines + [sections.joined(separator: "\n\n"), "", "Figures: `bench/results/heterogeneity.json`. Machine: \(machine)."])
            .joined(separator: "\n")
    }
}
