import ArgumentParser
import FedMQCommandLine
import Foundation

/// `fedmq bench shards`: one broker's updates taken in by 1, 2 and 4 ingest shards (site
/// aggregators sharing them through an MQTT 5 shared subscription, their partials folded by the
/// central aggregator), against one aggregator taking every update itself.
struct ShardsBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shards",
        abstract: "Ingest rate of 1, 2 and 4 ingest shards on one broker, against one aggregator taking every update."
    )

    @OptionGroup var output: BenchOutputOptions
    @Option(help: "Simulated agents.") var agents = 2000
    @Option(help: "Rounds per run.") var rounds = 5
    @Option(name: .customLong("shards"), help: "Shard counts (repeatable).") var shardCounts = [1, 2, 4]

    private struct Measured {
        /// Agents' updates per second of round: agents / p50 from round open to model published.
        var rate: Double
        var p50: Double
        var lost: Int
        var centralIngest: Double
    }

    func run() async throws {
        let machine = BenchmarkReport.machine()
        // 0: one aggregator, the peer. Shard counts and the peer alternate within each run.
        let variants = [0] + shardCounts
        var measured: [Int: [Measured]] = [:]
        for run in 1...output.runs {
            for shards in variants {
                let load = BenchmarkReport.loadAverage()
                var simulation = SimulationRun(agents: agents, rounds: rounds)
                simulation.ingestShards = shards
                let work = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-shards-\(UUID().uuidString)").path
                defer { try? FileManager.default.removeItem(atPath: work) }
                let outcome = try await simulation.run(
                    work: work, executables: URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
                let p50 = outcome.percentile(0.5)
                let ingest = outcome.centralIngestPerRound
                let figures = Measured(
                    rate: Double(agents) / p50, p50: p50, lost: outcome.expectedUpdates - outcome.updatesPerRound.reduce(0, +),
                    centralIngest: Double(ingest.reduce(0, +)) / Double(max(1, ingest.count)))
                measured[shards, default: []].append(figures)
                print(
                    String(
                        format: "run %d, %d shard(s) (load %.1f): %.0f updates/s, p50 %.3f s, lost %d, central ingest %.0f", run, shards, load,
                        figures.rate, figures.p50, figures.lost, figures.centralIngest))
            }
        }
        let peerRuns = measured[0] ?? []
        var results: [BenchmarkResult] = []
        var rows = [Self.row(peerRuns, name: "one aggregator (peer)", peer: peerRuns)]
        for shards in shardCounts {
            let runs = measured[shards] ?? []
            rows.append(Self.row(runs, name: "\(shards) shard(s)", peer: peerRuns))
            let pairs = zip(runs, peerRuns)
            results += [
                BenchmarkResult(
                    name: "shards-\(shards)-ingest-rate",
                    metric: "agents' updates per second of round (agents / p50 round latency), \(agents) agents, \(shards) ingest shard(s)",
                    peerName: "one aggregator taking every update", goal: "reported (measured with 1, 2 and 4 shards)", check: nil, machine: machine,
                    runs: pairs.map { .init(fedmq: $0.rate, peer: $1.rate) }),
                BenchmarkResult(
                    name: "shards-\(shards)-lost", metric: "updates lost, \(agents) agents x \(rounds) rounds, \(shards) ingest shard(s)",
                    peerName: "none lost", goal: "0", check: { fedmq, _ in fedmq == 0 }, machine: machine,
                    runs: runs.map { .init(fedmq: Double($0.lost), peer: 0) }),
                BenchmarkResult(
                    name: "shards-\(shards)-central-ingest", metric: "partials the central aggregator takes per round, \(shards) ingest shard(s)",
                    peerName: "shards", goal: "one per shard", check: { fedmq, peer in fedmq <= peer }, machine: machine,
                    runs: runs.map { .init(fedmq: $0.centralIngest, peer: Double(shards)) }),
            ]
        }
        try BenchmarkReport.writeJSON(results, to: output.results)
        try BenchmarkReport.replaceSection("shards", with: section(rows: rows, machine: machine), in: output.markdown)
        print(rows.joined(separator: "\n"))
    }

    private static func row(_ runs: [Measured], name: String, peer: [Measured]) -> String {
        let rate = BenchmarkReport.median(runs.map(\.rate))
        let ratio = rate / BenchmarkReport.median(peer.map(\.rate))
        return "| \(name) | \(BenchmarkReport.format(rate, digits: 0)) | \(BenchmarkReport.format(ratio, digits: 2)) | "
            + "\(BenchmarkReport.format(BenchmarkReport.median(runs.map(\.p50)), digits: 3)) | \(runs.map(\.lost).reduce(0, +)) | "
            + "\(BenchmarkReport.format(BenchmarkReport.median(runs.map(\.centralIngest)), digits: 0)) |"
    }

    private func section(rows: [String], machine: String) -> String {
        ([
            "## Ingest shards (`make bench-shards`)",
            "",
            "\(agents) simulated agents (`fedmq simulate --ingest-shards N`: own MQTT connection each, training a no-op, the",
            "10,100-parameter softmax model) on one mosquitto, \(rounds) rounds. N ingest shards (`fedmq-aggregator --site shardK",
            "--ingest-group ingest`) share the updates through `$share/ingest/fedmq/v1/<job>/round/+/update/+`; each folds its share",
            "into a partial, sent once every online agent's status says it served the round; the central aggregator folds the",
            "partials. The peer is one aggregator taking every update itself. Rate: agents / p50 from round open to model",
            "published. \(output.runs) run(s), variants alternating; medians. Machine: \(machine).",
            "",
            "| ingest | updates/s | vs one aggregator | p50 s | lost | central ingest (messages/round) |",
            "|---|---|---|---|---|---|",
        ] + rows + [
            "",
            "What limits it: on this 2-core machine the shards share the same two cores with mosquitto (one thread) and the",
            "simulated agents' processes, which take most of the CPU; more shards add no CPU, so the figures show what sharding",
            "costs, not what it gains. A gain needs shards on cores or hosts of their own, and then mosquitto's one thread bounds",
            "the pass-through (`make bench-ingest`). The central aggregator's ingest falls from one message per agent to one per shard.",
            "",
            "Figures: `bench/results/shards.json`.",
        ]).joined(separator: "\n")
    }
}
