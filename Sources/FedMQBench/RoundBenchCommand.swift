import ArgumentParser
import FedMQCommandLine
import FedMQRuntime
import Foundation

/// `fedmq bench round`: where a round's time goes. FedMQ's side of the shared digits task
/// (`make bench-flower`'s logistic regression, IID: broker, aggregator and 10 agent processes,
/// launched by bench/flower/harness.py), with every process marking its stages in a
/// `FEDMQ_TRACE` file; each round's critical path is cut at those marks.
struct RoundBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "round",
        abstract: "A round of the shared digits task (10 agents), stage by stage on its critical path, from the processes' stage marks."
    )

    @OptionGroup var output: BenchOutputOptions
    @Option(help: "Rounds per job.") var rounds = 30
    @Option(help: "Python interpreter for the harness (standard library only for FedMQ's side).") var python = "python3"
    @Option(help: "The harness that launches and measures the job.") var harness = "bench/flower/harness.py"
    @Option(help: "The shared task's folder (TASK.md, data/).") var task = "bench/task"

    func validate() throws {
        guard (3...1000).contains(rounds) else { throw ValidationError("--rounds must be within 3...1000") }
    }

    func run() async throws {
        let machine = BenchmarkReport.machine()
        let executables = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-bench-round-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        var runs: [[[RoundBreakdown.Segment]]] = []
        var agentMedians: [[String: Double]] = []
        var cpuPerRound: [[String: Double]] = []
        for run in 1...output.runs {
            let setup = try TaskJobSetup(
                model: "logreg", split: "iid", rounds: rounds, taskDirectory: task, work: "\(work)/run-\(run)", executables: executables)
            let tracePath = "\(work)/run-\(run)/trace.log"
            let job = try Harness(python: python, script: harness).job(
                ["fedmq", "--spec", setup.specPath], environment: [StageTrace.variable: tracePath])
            let marks = RoundBreakdown.marks(in: try String(contentsOfFile: tracePath, encoding: .utf8))
            let measured = RoundBreakdown.rounds(marks)
            guard measured.count >= rounds / 2 else {
                throw CommandFailure("run \(run): only \(measured.count) of \(rounds) rounds had every stage marked; see \(tracePath)")
            }
            runs.append(measured)
            agentMedians.append(RoundBreakdown.agentMedians(marks))
            cpuPerRound.append((job.cpuByRole ?? [:]).mapValues { 1000 * $0 / Double(rounds) })
            let total = BenchmarkReport.median(measured.map { $0.reduce(0) { $0 + $1.milliseconds } })
            print(String(format: "run %d: %d rounds measured, median %.1f ms a round, accuracy %.4f", run, measured.count, total, job.accuracy))
        }
        let report = RoundBreakdownReport(runs: runs, agentMedians: agentMedians, cpuPerRound: cpuPerRound, machine: machine)
        try BenchmarkReport.writeJSON(report.results, to: output.results)
        let text = report.markdown(rounds: rounds)
        try BenchmarkReport.replaceSection("round", with: text, in: output.markdown)
        print(text)
    }
}

/// The breakdown's figures: medians over every measured round of every run.
struct RoundBreakdownReport {
    var runs: [[[RoundBreakdown.Segment]]]
    var agentMedians: [[String: Double]]
    var cpuPerRound: [[String: Double]]
    var machine: String

    private var allRounds: [[RoundBreakdown.Segment]] { runs.flatMap { $0 } }
    private func total(_ round: [RoundBreakdown.Segment]) -> Double { round.reduce(0) { $0 + $1.milliseconds } }
    /// The median of a stage over rounds that have it (evaluation only with an evaluation set).
    private func median(_ stage: String, in rounds: [[RoundBreakdown.Segment]]) -> Double? {
        let values = rounds.compactMap { $0.first { $0.stage == stage }?.milliseconds }
        return values.isEmpty ? nil : BenchmarkReport.median(values)
    }
    private var stages: [(mark: String, label: String)] { RoundBreakdown.labels.filter { median($0.mark, in: allRounds) != nil } }
    private var roundMilliseconds: Double { BenchmarkReport.median(allRounds.map(total)) }

    var results: [BenchmarkResult] {
        stages.map { stage in
            BenchmarkResult(
                name: "round-\(stage.mark)", metric: "ms of a round's critical path: \(stage.label) (median over rounds)",
                fedmq: median(stage.mark, in: allRounds) ?? .nan, peer: roundMilliseconds, peerName: "the whole round (median)",
                goal: "reported", goalMet: true, machine: machine,
                runs: runs.map { .init(fedmq: median(stage.mark, in: $0) ?? .nan, peer: BenchmarkReport.median($0.map(total))) })
        }
    }

    func markdown(rounds: Int) -> String {
        let whole = roundMilliseconds
        var lines = [
            "## A round, stage by stage (`make bench-round`)",
            "",
            "FedMQ's side of `make bench-flower`'s logistic regression, IID (mosquitto, `fedmq-aggregator` and 10 `fedmq-agent`",
            "processes, launched by bench/flower/harness.py; \(rounds) rounds, \(runs.count) run(s)). Every process marks its stages in",
            "a `FEDMQ_TRACE` file on the machine's monotonic clock (`StageTrace`). A round's critical path runs from the",
            "aggregator announcing it to the aggregator announcing the next, through the agent whose update arrived last; its",
            "segments add up to the round. Medians over \(allRounds.count) rounds (the medians of the segments need not add up to the",
            "median round). The agents' column is each run's median over every agent and round, then the median of the runs. Machine: \(machine).",
            "",
            "| stage | ms (last agent, critical path) | share of the round | ms (every agent) |",
            "|---|---|---|---|",
        ]
        for stage in stages {
            let value = median(stage.mark, in: allRounds) ?? .nan
            let perRun = agentMedians.compactMap { $0[stage.mark] }
            let every = perRun.isEmpty ? "–" : BenchmarkReport.format(BenchmarkReport.median(perRun), digits: 2)
            lines.append(
                "| \(stage.label) | \(BenchmarkReport.format(value, digits: 2)) | \(BenchmarkReport.format(100 * value / whole, digits: 0))% | \(every) |"
            )
        }
        lines.append("| **the round** | **\(BenchmarkReport.format(whole, digits: 2))** | 100% | |")
        let cpu = ["broker", "aggregator", "agent"].map { role in
            let value = BenchmarkReport.median(cpuPerRound.map { $0[role] ?? .nan })
            return "\(role == "agent" ? "the 10 agents" : role) \(BenchmarkReport.format(value, digits: 1)) ms"
        }
        lines += [
            "", "CPU per round, from each process's rusage over the whole job (start-up included): \(cpu.joined(separator: ", ")).", "",
            "Figures: `bench/results/round.json`.",
        ]
        return lines.joined(separator: "\n")
    }
}
