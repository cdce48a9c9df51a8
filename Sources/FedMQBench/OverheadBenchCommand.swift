import ArgumentParser
import FedMQCommandLine
import Foundation

/// `fedmq bench overhead` and `fedmq bench soak`: the protocol's own cost per round, from
/// `fedmq simulate` runs (agents in worker processes, training a no-op, a real aggregator and broker).
struct OverheadBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overhead",
        abstract: "Round overhead: round open to model published, 10k-parameter model, no-op training, 10 and 100 agents."
    )

    @OptionGroup var output: BenchOutputOptions
    @Option(name: .customLong("agents"), help: "Cohort sizes (repeatable).") var cohorts = [10, 100]
    @Option(help: "Rounds per run.") var rounds = 20

    func run() async throws {
        let machine = BenchmarkReport.machine()
        var results: [BenchmarkResult] = []
        var rows: [String] = []
        var baseline: [Double]?
        for agents in cohorts {
            var p50: [Double] = []
            var p95: [Double] = []
            for run in 1...output.runs {
                let outcome = try await simulate(agents: agents, rounds: rounds, name: "overhead-\(agents)-\(run)")
                guard outcome.updatesPerRound.reduce(0, +) == outcome.expectedUpdates else {
                    throw CommandFailure("\(agents) agents, run \(run): updates were lost")
                }
                p50.append(outcome.percentile(0.5) * 1000)
                p95.append(outcome.percentile(0.95) * 1000)
                print(String(format: "%d agents, run %d: p50 %.1f ms, p95 %.1f ms", agents, run, p50.last!, p95.last!))
            }
            let reference = baseline ?? p50
            baseline = reference
            let peerName = "FedMQ with \(cohorts[0]) agents (same run)"
            results.append(
                BenchmarkResult(
                    name: "overhead-\(agents)-agents-p50", metric: "ms from round open to model published, p50 of \(rounds) rounds",
                    fedmq: BenchmarkReport.median(p50), peer: BenchmarkReport.median(reference), peerName: peerName, goal: "reported",
                    goalMet: true, machine: machine, runs: zip(p50, reference).map { .init(fedmq: $0, peer: $1) }))
            results.append(
                BenchmarkResult(
                    name: "overhead-\(agents)-agents-p95", metric: "ms from round open to model published, p95 of \(rounds) rounds",
                    fedmq: BenchmarkReport.median(p95), peer: BenchmarkReport.median(reference), peerName: peerName, goal: "reported",
                    goalMet: true, machine: machine, runs: zip(p95, reference).map { .init(fedmq: $0, peer: $1) }))
            rows.append(
                "| \(agents) | \(BenchmarkReport.format(BenchmarkReport.median(p50), digits: 1)) | \(BenchmarkReport.spread(p50, digits: 1)) "
                    + "| \(BenchmarkReport.format(BenchmarkReport.median(p95), digits: 1)) | \(BenchmarkReport.spread(p95, digits: 1)) |")
        }
        try BenchmarkReport.writeJSON(results, to: output.results)
        let text =
            ([
                "## Round overhead (`make bench-overhead`)",
                "",
                "`fedmq simulate`: agents in worker processes (at most 300 each), each with its own MQTT connection, training",
                "switched to a no-op, their state on tmpfs; a real `fedmq-aggregator` process (state on disk) and a private",
                "mosquitto; a softmax model of 100 x 100 (10,100 parameters, 40 KB float32). Latency is from a subscriber seeing",
                "round r open on `global/round` to it seeing round r's model on `global/model`: every agent's receive, encode,",
                "record and publish, the broker's two hops, and the",
                "aggregator's validation, spool fsync, aggregation, checkpoint and publishes. Medians over \(output.runs) runs of the",
                "per-run percentiles over \(rounds) rounds; spreads min–max. Machine: \(machine).",
                "",
                "| agents | p50 ms | spread | p95 ms | spread |",
                "|---|---|---|---|---|",
            ] + rows + ["", "Figures: `bench/results/overhead.json` (the peer column there is the smallest cohort of the same run)."]).joined(
                separator: "\n")
        try BenchmarkReport.replaceSection("overhead", with: text, in: output.markdown)
        print(text)
    }
}

/// `fedmq bench soak`: many agents for many rounds; no update may be lost.
struct SoakBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Soak: 200 agents x 20 rounds through one local broker; updates lost, latency percentiles, aggregator memory."
    )

    @Option(help: "Agents.") var agents = 200
    @Option(help: "Rounds.") var rounds = 20
    @Option(help: "JSON results file.") var results = "bench/results/soak.json"
    @Option(help: "Markdown file whose soak section is rewritten.") var markdown = "docs/benchmarks.md"

    func run() async throws {
        let machine = BenchmarkReport.machine()
        let outcome = try await simulate(agents: agents, rounds: rounds, name: "soak")
        print(SimulateCommand.summary(outcome))
        let counted = outcome.updatesPerRound.reduce(0, +)
        // Flat means no growth once warmed up: the second half of the rounds against the middle.
        let first = Double(outcome.aggregatorRSS.first ?? 0)
        let middle = Double(outcome.aggregatorRSS.isEmpty ? 0 : outcome.aggregatorRSS[outcome.aggregatorRSS.count / 2])
        let last = Double(outcome.aggregatorRSS.last ?? 0)
        let absolute = "no peer: an absolute figure"
        let figures =
            [
                BenchmarkResult(
                    name: "soak-updates-counted", metric: "updates counted of those published", fedmq: Double(counted),
                    peer: Double(outcome.expectedUpdates), peerName: "updates published", goal: "none lost, none rejected",
                    goalMet: counted == outcome.expectedUpdates && outcome.rejected == 0, machine: machine,
                    runs: [.init(fedmq: Double(counted), peer: Double(outcome.expectedUpdates))]),
                BenchmarkResult(
                    name: "soak-aggregator-rss", metric: "aggregator RSS after the last round / after the middle round", fedmq: last, peer: middle,
                    peerName: "the same aggregator after round \(rounds / 2 + 1)", goal: "flat: second half grows < 5%",
                    goalMet: last > 0 && last <= middle * 1.05,
                    machine: machine, runs: [.init(fedmq: last, peer: middle)]),
            ]
            + [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")].map { p, label in
                BenchmarkResult(
                    name: "soak-latency-\(label)", metric: "ms from round open to model published, \(label)", fedmq: outcome.percentile(p) * 1000,
                    peer: 0, peerName: absolute, goal: "reported", goalMet: true, machine: machine,
                    runs: [.init(fedmq: outcome.percentile(p) * 1000, peer: 0)])
            }
        try BenchmarkReport.writeJSON(figures, to: results)
        let mib = { (bytes: Double) in BenchmarkReport.format(bytes / 1_048_576, digits: 1) }
        let text = [
            "## Soak (`make bench-soak`)",
            "",
            "`fedmq simulate --agents \(agents) --rounds \(rounds)`: \(agents) MQTT connections in worker processes, a real aggregator",
            "and a private mosquitto, the 10,100-parameter model of the overhead benchmark. The aggregator's memory grows while",
            "its allocator warms up in the first rounds, then stays flat; it holds the running sum, not the updates. Machine: \(machine).",
            "",
            "| figure | value | goal | met |",
            "|---|---|---|---|",
            "| updates counted | \(counted) of \(outcome.expectedUpdates) (rejected \(outcome.rejected)) | none lost | \(figures[0].goalMet ? "yes" : "**no**") |",
            "| aggregator RSS after round 1 / \(rounds / 2 + 1) / \(rounds) | \(mib(first)) / \(mib(middle)) / \(mib(last)) MiB | flat: second half grows < 5% | \(figures[1].goalMet ? "yes" : "**no**") |",
            "| aggregator peak RSS | \(mib(Double(outcome.aggregatorPeakRSS))) MiB = \(BenchmarkReport.format(Double(outcome.aggregatorPeakRSS) / Double(max(1, outcome.modelBytes)))) x the model (\(outcome.modelBytes) bytes) | reported | – |",
            String(
                format: "| round latency p50 / p95 / p99 | %.1f / %.1f / %.1f ms | reported | – |",
                outcome.percentile(0.5) * 1000, outcome.percentile(0.95) * 1000, outcome.percentile(0.99) * 1000),
            "",
            "Figures: `bench/results/soak.json`.",
        ].joined(separator: "\n")
        try BenchmarkReport.replaceSection("soak", with: text, in: markdown)
        print(text)
        if !figures[0].goalMet { throw ExitCode(1) }
    }
}

private func simulate(agents: Int, rounds: Int, name: String) async throws -> SimulationRun.Outcome {
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-bench-\(name)-\(UUID().uuidString)").path
    let outcome = try await SimulationRun(agents: agents, rounds: rounds)
        .run(work: work, executables: URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
    try? FileManager.default.removeItem(atPath: work)
    return outcome
}
