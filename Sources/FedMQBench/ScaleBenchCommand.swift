import ArgumentParser
import FedMQCommandLine
import Foundation

/// `fedmq bench scale`: fleets of thousands of simulated agents, on one broker and on site
/// brokers bridged to a central one: rounds' latency, updates lost, what the central
/// aggregator ingests, and every process's CPU and memory.
struct ScaleBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract:
            "1k, 5k and 10k simulated agents, on one broker, 4 bridged sites, and 4 sites with site aggregators: latency, losses, central ingest, CPU and memory."
    )

    @OptionGroup var output: BenchOutputOptions
    @Option(name: .customLong("agents"), help: "Fleet sizes (repeatable).") var fleets = [1000, 5000, 10_000]
    @Option(help: "Rounds per run.") var rounds = 10
    @Option(help: "Site brokers of the bridged topology.") var sites = 4

    /// The goals of the scale-out issue.
    static let latencyGoalSeconds = 10.0
    static let overheadGoalMilliseconds = 0.3

    private struct Topology {
        var name: String
        var sites: Int
        /// A site aggregator per site sends partials (hierarchical aggregation).
        var siteAggregators = false
    }

    private struct Measured {
        var p50: Double
        var p95: Double
        var lost: Int
        /// Updates, or with site aggregators partials, the central aggregator took in per round.
        var centralUpdatesPerRound: Double
        /// Aggregator and broker CPU per agent per round (ms), site aggregators included: the servers' cost.
        var serverMillisecondsPerAgent: Double
        /// The central aggregator's and central broker's CPU per agent per round (ms).
        var centralMillisecondsPerAgent: Double
        var agentMillisecondsPerAgent: Double
        var usage: [SimulationRun.RoleUsage]
    }

    func run() async throws {
        let machine = BenchmarkReport.machine()
        let topologies = [
            Topology(name: "one-broker", sites: 0), Topology(name: "\(sites)-sites", sites: sites),
            Topology(name: "\(sites)-site-aggregators", sites: sites, siteAggregators: true),
        ]
        var measured: [String: [Measured]] = [:]
        // Topologies alternate within each run, so a slow spell of the machine hits both.
        for run in 1...output.runs {
            for agents in fleets {
                for topology in topologies {
                    let load = BenchmarkReport.loadAverage()
                    var simulation = SimulationRun(agents: agents, rounds: rounds)
                    simulation.sites = topology.sites
                    simulation.siteAggregators = topology.siteAggregators
                    let work = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-scale-\(UUID().uuidString)").path
                    defer { try? FileManager.default.removeItem(atPath: work) }
                    let outcome = try await simulation.run(
                        work: work, executables: URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
                    let figures = Self.measure(outcome, rounds: rounds)
                    measured["\(agents)-\(topology.name)", default: []].append(figures)
                    print(
                        String(
                            format:
                                "run %d, %d agents, %@ (load %.1f): p50 %.2f s, p95 %.2f s, lost %d, central ingest %.0f, central %.3f ms, servers %.3f ms and agents %.3f ms per agent-round",
                            run, agents, topology.name, load, figures.p50, figures.p95, figures.lost, figures.centralUpdatesPerRound,
                            figures.centralMillisecondsPerAgent, figures.serverMillisecondsPerAgent, figures.agentMillisecondsPerAgent))
                }
            }
        }
        var results: [BenchmarkResult] = []
        var rows: [String] = []
        for agents in fleets {
            for topology in topologies {
                let runs = measured["\(agents)-\(topology.name)"] ?? []
                results += Self.results(
                    runs, agents: agents, topology: topology.name, sites: topology.siteAggregators ? topology.sites : 0, rounds: rounds,
                    machine: machine)
                rows.append(Self.row(runs, agents: agents, topology: topology.name))
            }
        }
        try BenchmarkReport.writeJSON(results, to: output.results)
        try BenchmarkReport.replaceSection(
            "scale", with: Self.section(rows: rows, runs: output.runs, rounds: rounds, sites: sites, machine: machine), in: output.markdown)
        print(rows.joined(separator: "\n"))
    }

    private static func measure(_ outcome: SimulationRun.Outcome, rounds: Int) -> Measured {
        let agentRounds = Double(max(1, outcome.expectedUpdates))
        func cpu(_ roles: (String) -> Bool) -> Double { outcome.usage.filter { roles($0.role) }.reduce(0) { $0 + $1.cpuSeconds } }
        let server = cpu { !$0.hasPrefix("agents") }
        let central = cpu { $0 == "aggregator" || $0 == "central broker" }
        let agents = cpu { $0.hasPrefix("agents") }
        let counted = outcome.updatesPerRound.reduce(0, +)
        let ingest = outcome.centralIngestPerRound
        return Measured(
            p50: outcome.percentile(0.5), p95: outcome.percentile(0.95), lost: outcome.expectedUpdates - counted,
            centralUpdatesPerRound: Double(ingest.reduce(0, +)) / Double(max(1, ingest.count)),
            serverMillisecondsPerAgent: server * 1000 / agentRounds, centralMillisecondsPerAgent: central * 1000 / agentRounds,
            agentMillisecondsPerAgent: agents * 1000 / agentRounds, usage: outcome.usage)
    }

    private static func results(_ runs: [Measured], agents: Int, topology: String, sites: Int, rounds: Int, machine: String) -> [BenchmarkResult] {
        let name = "scale-\(agents)-\(topology)"
        let fleet = "\(agents) agents, \(topology), \(rounds) rounds"
        return [
            BenchmarkResult(
                name: "\(name)-p95", metric: "s from round open to model published, p95 of \(rounds) rounds (\(fleet))",
                peerName: "the goal", goal: "p95 <= \(Int(latencyGoalSeconds)) s", check: { fedmq, _ in fedmq <= latencyGoalSeconds },
                machine: machine, runs: runs.map { .init(fedmq: $0.p95, peer: latencyGoalSeconds) }),
            BenchmarkResult(
                name: "\(name)-p50", metric: "s from round open to model published, p50 of \(rounds) rounds (\(fleet))", peerName: "the goal",
                goal: "reported", check: nil, machine: machine, runs: runs.map { .init(fedmq: $0.p50, peer: latencyGoalSeconds) }),
            BenchmarkResult(
                name: "\(name)-lost", metric: "updates lost (published, not counted) (\(fleet))", peerName: "none lost", goal: "0",
                check: { fedmq, _ in fedmq == 0 }, machine: machine, runs: runs.map { .init(fedmq: Double($0.lost), peer: 0) }),
            // Without site aggregators every update reaches the central aggregator by design: reported, not checked.
            BenchmarkResult(
                name: "\(name)-central-ingest", metric: "updates or partials the central aggregator ingests per round (\(fleet))",
                peerName: sites == 0 ? "agents (no site aggregators)" : "sites", goal: sites == 0 ? "reported" : "O(sites), not O(agents)",
                check: sites == 0 ? nil : { fedmq, peer in fedmq <= peer }, machine: machine,
                runs: runs.map { .init(fedmq: $0.centralUpdatesPerRound, peer: Double(sites == 0 ? agents : sites)) }),
            BenchmarkResult(
                name: "\(name)-server-cpu-per-agent", metric: "aggregators' and brokers' CPU ms per agent per round, sites included (\(fleet))",
                peerName: "the goal", goal: "<= \(overheadGoalMilliseconds) ms", check: { fedmq, _ in fedmq <= overheadGoalMilliseconds },
                machine: machine, runs: runs.map { .init(fedmq: $0.serverMillisecondsPerAgent, peer: overheadGoalMilliseconds) }),
            BenchmarkResult(
                name: "\(name)-central-cpu-per-agent", metric: "central aggregator's and central broker's CPU ms per agent per round (\(fleet))",
                peerName: "the goal", goal: "<= \(overheadGoalMilliseconds) ms", check: { fedmq, _ in fedmq <= overheadGoalMilliseconds },
                machine: machine, runs: runs.map { .init(fedmq: $0.centralMillisecondsPerAgent, peer: overheadGoalMilliseconds) }),
        ]
            + roleResults(runs, name: name, fleet: fleet, machine: machine)
    }

    /// Each role's peak RSS (the largest process of the role), as reported.
    private static func roleResults(_ runs: [Measured], name: String, fleet: String, machine: String) -> [BenchmarkResult] {
        let roles = runs.first?.usage.map(\.role) ?? []
        return roles.map { role in
            let peaks = runs.map { run in Double(run.usage.first { $0.role == role }?.largestPeakBytes ?? 0) / 1_048_576 }
            let slug = role.split(separator: " ").first.map(String.init) ?? role
            return BenchmarkResult(
                name: "\(name)-\(slug)-peak-rss", metric: "peak RSS of the largest \(role) process, MiB (\(fleet))", peerName: "none: reported",
                goal: "reported", check: nil, machine: machine, runs: peaks.map { .init(fedmq: $0, peer: 0) })
        }
    }

    private static func row(_ runs: [Measured], agents: Int, topology: String) -> String {
        let median = { (values: [Double], digits: Int) in BenchmarkReport.format(BenchmarkReport.median(values), digits: digits) }
        let usage = runs.first?.usage ?? []
        let memory = usage.map { role in
            "\(role.role) \(BenchmarkReport.format(Double(role.largestPeakBytes) / 1_048_576)) MiB"
        }.joined(separator: "; ")
        return "| \(agents) | \(topology) | \(median(runs.map(\.p50), 2)) | \(median(runs.map(\.p95), 2)) | "
            + "\(runs.map(\.lost).reduce(0, +)) | \(median(runs.map(\.centralUpdatesPerRound), 0)) | "
            + "\(median(runs.map(\.centralMillisecondsPerAgent), 3)) | \(median(runs.map(\.serverMillisecondsPerAgent), 3)) | "
            + "\(median(runs.map(\.agentMillisecondsPerAgent), 3)) | \(memory) |"
    }

    private static func section(rows: [String], runs: Int, rounds: Int, sites: Int, machine: String) -> String {
        ([
            "## Scale (`make bench-scale`)",
            "",
            "`fedmq simulate`: every agent has its own MQTT connection and network thread, in worker processes of at most 300",
            "agents, training switched to a no-op, the 10,100-parameter softmax model",
            "(40 KB float32). One broker: the agents and the aggregator on one mosquitto. \(sites) sites: the agents dealt over \(sites)",
            "site mosquittos, each bridged to a central one (`SiteBridge`, the topics of `deploy/bridge/site-bridge.conf`), the",
            "aggregator on the central broker. \(sites) site aggregators: the same sites, each with a `fedmq-aggregator --site` beside its",
            "broker that sends one partial per round, bridged with `deploy/bridge/site-partials.conf`'s topics (hierarchical",
            "aggregation); the central aggregator folds \(sites) partials per round. The agents keep their state on tmpfs (a real device fsyncs its own disk; here",
            "thousands would share one), the aggregator on disk. Latency is from round r opening to its model being published, as a",
            "subscriber on the central broker sees them. CPU counts from round 1's opening to the last model. \(runs) run(s) of",
            "\(rounds) rounds, topologies alternating; medians. Machine: \(machine).",
            "",
            "| agents | topology | p50 s | p95 s | lost | central ingest (messages/round) | central aggregator + broker ms/agent/round | all aggregators + brokers ms/agent/round | agents ms/agent/round | peak RSS (largest process of each role) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ] + rows + [
            "",
            "Goals: nothing lost; p95 under \(Int(latencyGoalSeconds)) s at 10,000 agents; the central aggregator's ingest O(sites);",
            "aggregators and brokers under \(overheadGoalMilliseconds) ms per agent per round. Figures: `bench/results/scale.json`.",
        ]).joined(separator: "\n")
    }
}
