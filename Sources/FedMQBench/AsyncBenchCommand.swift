import ArgumentParser
import FedMQCommandLine
import FedMQCore
import FedMQProtocol
import Foundation

/// `fedmq bench async`: time to accuracy of an asynchronous job beside the best synchronous
/// configuration found in the same run, on the same data, devices and seeds, in three fleets:
/// equal devices always online, a slow fifth, and devices online 30% of the time.
struct AsyncBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "async",
        abstract: "Asynchronous buffers vs tuned synchronous rounds: seconds to a target accuracy, three device scenarios, real processes."
    )

    @OptionGroup var output: BenchOutputOptions
    @Option(help: "Devices (agents in this process, each with its own connection).") var agents = 20
    @Option(help: "Updates applied before a run stops; final accuracy compares at this count.") var updates = 600
    @Option(name: .customLong("target-accuracy"), help: "Central test accuracy whose first reaching is timed.") var targetAccuracy = 0.9
    @Option(name: .customLong("time-limit"), help: "Seconds a run may take at most.") var timeLimit = 90.0
    @Option(help: "The digits CSV.") var data = "data/digits.csv"
    @Option(help: "The chart of time to accuracy.") var chart = "docs/images/async-time-to-accuracy.svg"

    struct Scenario {
        var id: String
        var title: String
        var behaviour: DeviceBehaviour
        /// The goal on async time / sync time.
        var goal: Double
    }

    /// A synchronous configuration: a round's target, quorum and deadline.
    struct Rounds: CustomStringConvertible {
        var target: Int
        var quorum: Int
        var deadline: Double
        var description: String { "rounds: target \(target), quorum \(quorum), deadline \(String(format: "%g", deadline)) s" }
    }

    /// One measured run: seconds to the target (nil: not reached) and accuracy at the update count.
    struct Measured {
        var seconds: Double?
        var accuracy: Double
        /// Device trainings per update the job applied.
        var trainingsPerUpdate: Double
        var stoppedAfter: Double
        var points: [DeviceFleetRun.Point]
        /// What the table and JSON show for a run that never reached the target: its whole length.
        var secondsOrLimit: Double { seconds ?? stoppedAfter }
    }

    func run() async throws {
        let machine = BenchmarkReport.machine()
        let executables = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let training = DeviceBehaviour(trainingMedianSeconds: 0.3, trainingSigma: 0.3)
        var slow = training
        (slow.slowFraction, slow.slowFactor) = (0.2, 10)
        var churn = training
        churn.availability = .markov(fraction: 0.3, meanOnlineSeconds: 5)
        let scenarios = [
            Scenario(id: "equal", title: "all online, equal speeds", behaviour: training, goal: 1.1),
            Scenario(id: "slow", title: "a fifth of the devices 10x slower", behaviour: slow, goal: 0.4),
            Scenario(id: "churn", title: "devices online 30% of the time", behaviour: churn, goal: 0.4),
        ]
        let buffer = max(1, agents / 4)
        let grid = [
            Rounds(target: agents, quorum: agents * 4 / 5, deadline: 1.5), Rounds(target: agents / 2, quorum: agents / 4, deadline: 1.5),
            Rounds(target: buffer, quorum: max(1, buffer / 2), deadline: 1), Rounds(target: buffer, quorum: 1, deadline: 3),
        ]
        var results: [BenchmarkResult] = []
        var table: [String] = []
        var curves: [(title: String, async: [DeviceFleetRun.Point], sync: [DeviceFleetRun.Point], label: String)] = []
        for scenario in scenarios {
            print("== \(scenario.title)")
            // Tuning: every synchronous configuration once; the fastest to the target is the peer.
            var tuned: [(rounds: Rounds, measured: Measured)] = []
            for rounds in grid {
                let measured = try await measure(synchronous: rounds, scenario: scenario, seed: 100, executables: executables)
                print("  tuning \(rounds): \(Self.describe(measured))")
                tuned.append((rounds, measured))
            }
            let best = tuned.min { ($0.measured.secondsOrLimit, -$0.measured.accuracy) < ($1.measured.secondsOrLimit, -$1.measured.accuracy) }!
            var pairs: [(async: Measured, sync: Measured)] = []
            for run in 1...output.runs {
                // Alternating which goes first; each pair shares its seed (split and devices).
                let seed = UInt64(run)
                let asynchronousFirst = run % 2 == 1
                var first: Measured
                var second: Measured
                if asynchronousFirst {
                    first = try await measure(asynchronousBuffer: buffer, scenario: scenario, seed: seed, executables: executables)
                    second = try await measure(synchronous: best.rounds, scenario: scenario, seed: seed, executables: executables)
                } else {
                    first = try await measure(synchronous: best.rounds, scenario: scenario, seed: seed, executables: executables)
                    second = try await measure(asynchronousBuffer: buffer, scenario: scenario, seed: seed, executables: executables)
                }
                let pair = asynchronousFirst ? (first, second) : (second, first)
                print("  run \(run): asynchronous \(Self.describe(pair.0)); \(best.rounds) \(Self.describe(pair.1))")
                pairs.append(pair)
            }
            let timeRuns = pairs.map { BenchmarkResult.Run(fedmq: $0.async.secondsOrLimit, peer: $0.sync.secondsOrLimit) }
            let reachedAll = pairs.allSatisfy { $0.async.seconds != nil && $0.sync.seconds != nil }
            let time = BenchmarkResult(
                name: "async-\(scenario.id)-time", metric: "seconds to test accuracy \(targetAccuracy): \(scenario.title)",
                peerName: "\(best.rounds)",
                goal: "asynchronous / synchronous <= \(scenario.goal)", check: { reachedAll && $0 / $1 <= scenario.goal }, machine: machine,
                runs: timeRuns)
            let accuracy = BenchmarkResult(
                name: "async-\(scenario.id)-accuracy", metric: "test accuracy after \(updates) applied updates: \(scenario.title)",
                peerName: "\(best.rounds)", goal: "within 1 point of synchronous", check: { $0 >= $1 - 0.01 }, machine: machine,
                runs: pairs.map { .init(fedmq: $0.async.accuracy, peer: $0.sync.accuracy) })
            let work = BenchmarkResult(
                name: "async-\(scenario.id)-trainings", metric: "device trainings per applied update: \(scenario.title)",
                peerName: "\(best.rounds)", goal: "reported", check: nil, machine: machine,
                runs: pairs.map { .init(fedmq: $0.async.trainingsPerUpdate, peer: $0.sync.trainingsPerUpdate) })
            results += [time, accuracy, work]
            table.append(
                "| \(scenario.title) | \(Self.seconds(time.fedmq, reached: pairs.allSatisfy { $0.async.seconds != nil })) "
                    + "| \(Self.seconds(time.peer, reached: pairs.allSatisfy { $0.sync.seconds != nil })) (\(best.rounds)) "
                    + "| \(BenchmarkReport.format(time.ratio, digits: 2))x (goal <= \(scenario.goal)x) "
                    + "| \(BenchmarkReport.format(accuracy.fedmq, digits: 3)) vs \(BenchmarkReport.format(accuracy.peer, digits: 3)) "
                    + "| \(BenchmarkReport.format(work.fedmq, digits: 2)) vs \(BenchmarkReport.format(work.peer, digits: 2)) "
                    + "| \(tuned.map { "\($0.rounds.target)/\($0.rounds.quorum)/\(String(format: "%g", $0.rounds.deadline)) s: \(Self.seconds($0.measured.secondsOrLimit, reached: $0.measured.seconds != nil))" }.joined(separator: ", ")) |"
            )
            if let pair = pairs.first { curves.append((scenario.title, pair.async.points, pair.sync.points, "\(best.rounds)")) }
        }
        try BenchmarkReport.writeJSON(results, to: output.results)
        try AsyncChart.svg(curves, target: targetAccuracy).write(toFile: chart, atomically: true, encoding: .utf8)
        let text = markdown(table: table, buffer: buffer, machine: machine)
        try BenchmarkReport.replaceSection("async", with: text, in: output.markdown)
        print(text)
    }

    private func measure(synchronous rounds: Rounds, scenario: Scenario, seed: UInt64, executables: URL) async throws -> Measured {
        let policy = DeviceFleetRun.policy(
            mode: .rounds, target: rounds.target, minimum: rounds.quorum, roundSeconds: rounds.deadline, maxStaleness: 0)
        return try await measure(policy, scenario: scenario, seed: seed, executables: executables)
    }

    private func measure(asynchronousBuffer buffer: Int, scenario: Scenario, seed: UInt64, executables: URL) async throws -> Measured {
        let policy = DeviceFleetRun.policy(mode: .asynchronous, target: buffer, minimum: buffer, roundSeconds: 60, maxStaleness: 40)
        return try await measure(policy, scenario: scenario, seed: seed, executables: executables)
    }

    private func measure(_ policy: RoundPolicy, scenario: Scenario, seed: UInt64, executables: URL) async throws -> Measured {
        var behaviour = scenario.behaviour
        behaviour.seed = seed
        let fleet = DeviceFleetRun(
            agents: agents, data: data, policy: policy, behaviour: behaviour, appliedUpdates: updates, timeLimit: timeLimit, seed: seed)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-bench-async-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let outcome = try await fleet.run(work: work, executables: executables)
        return Measured(
            seconds: outcome.timeToAccuracy(targetAccuracy), accuracy: outcome.accuracy(afterUpdates: updates) ?? outcome.points.last?.accuracy ?? 0,
            trainingsPerUpdate: Double(outcome.trainings) / Double(max(1, outcome.points.last?.applied ?? 0)),
            stoppedAfter: outcome.points.last?.seconds ?? timeLimit, points: outcome.points)
    }

    static func describe(_ measured: Measured) -> String {
        let reached =
            measured.seconds.map { String(format: "target after %.2f s", $0) }
            ?? String(format: "target not reached in %.1f s", measured.stoppedAfter)
        return reached + String(format: ", accuracy %.4f", measured.accuracy)
    }

    static func seconds(_ value: Double, reached: Bool) -> String {
        (reached ? "" : ">= ") + String(format: "%.1f s", value)
    }

    private func markdown(table: [String], buffer: Int, machine: String) -> String {
        let lines =
            [
                "## Asynchronous vs synchronous (`make bench-async`)",
                "",
                "\(agents) devices, each an agent in one process with its own MQTT connection to a private mosquitto, training an MLP",
                "64-32-10 for real (one epoch, SGD lr 0.05, momentum 0.9, batch 32) on its Dirichlet(0.3) shard of digits; a real",
                "`fedmq-aggregator` evaluates every model on the held-out 20%. A training lasts a log-normal time (median 0.3 s, sigma",
                "0.3) on top of its real cost; in the second fleet a seeded fifth of the devices takes 10x as long; in the third each",
                "device follows a seeded two-state Markov chain, online 30% of the time for 5 s on average, and is stopped without a",
                "goodbye when it goes offline. Asynchronous: buffers of \(buffer) updates, max_staleness 40, weight (1 + s)^-0.5.",
                "Synchronous: the configuration (target, quorum, deadline) that reached the target first among the four tried once in the",
                "same run (all four are listed). Then \(output.runs) runs of each, alternating which goes first, each pair with the same",
                "seed. A run stops after \(updates) applied updates or \(String(format: "%g", timeLimit)) s. Medians; \">=\" marks a run that",
                "never reached the target (its length is shown). Machine: \(machine).",
                "",
                "| fleet | asynchronous to \(targetAccuracy) | best synchronous to \(targetAccuracy) | ratio | accuracy after \(updates) updates (async vs sync) | device trainings per applied update (async vs sync) | synchronous tuning: target/quorum/deadline: time |",
                "|---|---|---|---|---|---|---|",
            ] + table + [
                "",
                "![time to accuracy](images/async-time-to-accuracy.svg)",
                "",
                "Figures: `bench/results/async.json` (every run). Simulated training times are waits, so the devices' real CPU",
                "(20 trainers on 2 cores) does not limit them; the aggregator's per-model evaluation does cost real time.",
                "",
            ] + Self.limits
        return lines.joined(separator: "\n")
    }

    /// What limits the goals this benchmark misses, as measured when it was written.
    static let limits = [
        "What limits the speed-up: the synchronous peer is tuned, and its best setting (a target of a quarter of the fleet,",
        "a quorum of one or two and a short deadline) already takes each round's first updates and drops the stragglers'. That",
        "is most of what buffering gains over a round that waits for its cohort, the baseline FedBuff's 2.5x to 3.8x were",
        "measured against: see the first tuning column, a round waiting for 16 of 20. With devices online 30% of the time both",
        "modes wait for devices to come back (about 6 of 20 are online at once), so neither publishes faster than they train.",
        "At the same number of applied updates the asynchronous model is 1 to 2 points less accurate: stale updates, even",
        "weighted down, pull towards older versions (with 20 devices training at once and buffers of 5, an update is about",
        "3 versions old; a max_staleness of 8 instead of 40 gave the same accuracy in two trial runs). The fast synchronous",
        "settings buy their fresher updates with the devices' work: most trainings end in a closed round and are thrown away,",
        "while an asynchronous job applies every update it receives (the trainings column; on battery-powered devices that",
        "is energy). Not tried yet: a steeper staleness weight, a server learning rate below 1.",
    ]
}
