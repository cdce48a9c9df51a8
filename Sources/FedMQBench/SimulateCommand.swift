import ArgumentParser
import FedMQCommandLine
import FedMQCore
import FedMQProtocol
import FedMQRuntime
import Foundation

/// `fedmq simulate`: load-test a broker and aggregator with N agents in one process.
public struct SimulateCommand: AsyncParsableCommand {
    /// Made by swift-argument-parser when `fedmq simulate` is parsed.
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run N agents (one MQTT connection each) against a real aggregator.",
        discussion: """
            Without --data: the agents train a no-op, to load-test the protocol. It starts a private mosquitto (or uses
            --broker), and with --sites S also S site brokers bridged to it; starts the agents in worker processes of at
            most --agents-per-process each (on the site brokers, if any), then fedmq-aggregator with a softmax model of
            INPUTS x OUTPUTS parameters on the central broker, and waits for every round. Prints each round's latency
            (from the round opening to its model being published, as a subscriber sees them), the percentiles, whether
            every update counted, and every process's CPU time and peak memory. The agents' state goes to tmpfs
            (/dev/shm) unless --agent-state says otherwise: simulated devices share one disk, real ones do not.

            With --data FILE (a CSV with a header and a 'label' column, e.g. data/digits.csv): devices. Each agent trains
            an MLP for real on its shard of the data (--partition), takes as long as --training-time and --slow say, and is
            online only when --availability says (stopped without a goodbye when it goes offline). The job runs in --mode
            rounds or asynchronous until --updates updates were applied; every published model's time and central
            accuracy is printed, then the time until --target-accuracy was first reached.
            """
    )

    @Option(help: "Agents (MQTT connections).") var agents = 100
    @Option(help: "Rounds.") var rounds = 20
    @Option(help: "Model inputs (softmax regression).") var inputs = 100
    @Option(help: "Model outputs.") var outputs = 100
    @Option(help: "Use this broker (HOST:PORT) instead of a private one.") var broker: String?
    @Option(help: "Site brokers bridged to the central one; the agents connect to them.") var sites = 0
    @Flag(
        name: .customLong("site-aggregators"),
        help: "With --sites: a site aggregator beside each site broker sends one partial per round up its bridge (hierarchical aggregation).")
    var siteAggregators = false
    @Option(
        name: .customLong("ingest-shards"),
        help: "Ingest shards on the one broker: site aggregators sharing the updates through $share/..., folded centrally.")
    var ingestShards = 0
    @Option(name: .customLong("agents-per-process"), help: "Agents per worker process (at most 300).")
    var agentsPerProcess = SimulatedAgentsCommand.maximumAgents
    @Option(name: .customLong("agent-state"), help: "Folder for the agents' state (default: a new folder in /dev/shm).")
    var agentState: String?
    @Option(name: .customLong("work-dir"), help: "Where configs, state and logs go (default: a new temporary folder).")
    var workDirectory: String?
    @OptionGroup var devices: DeviceOptions

    /// Refuses fleet, round and model sizes outside what this machine can simulate, and --sites beside its own broker or devices.
    public func validate() throws {
        guard (1...20_000).contains(agents), (1...10_000).contains(rounds) else {
            throw ValidationError("--agents must be within 1...20000 and --rounds within 1...10000")
        }
        guard (0...16).contains(sites), (1...SimulatedAgentsCommand.maximumAgents).contains(agentsPerProcess) else {
            throw ValidationError("--sites must be within 0...16 and --agents-per-process within 1...\(SimulatedAgentsCommand.maximumAgents)")
        }
        if siteAggregators && sites == 0 { throw ValidationError("--site-aggregators needs --sites") }
        if !(0...8).contains(ingestShards) || (ingestShards > 0 && (sites > 0 || devices.data != nil)) {
            throw ValidationError("--ingest-shards must be within 0...8, on one broker (not with --sites or --data)")
        }
        if sites > 0 && (broker != nil || devices.data != nil) {
            throw ValidationError("--sites starts its own brokers: not with --broker or --data")
        }
        guard inputs >= 1, outputs >= 2, inputs * outputs <= 50_000_000 else {
            throw ValidationError("--inputs and --outputs give a model of 2 to 50M weights")
        }
        if let broker, HostPort(broker) == nil { throw ValidationError("--broker must be HOST:PORT") }
        if devices.data == nil && devices.changesBehaviour {
            throw ValidationError("--availability, --training-time, --slow and --mode need --data: devices train for real")
        }
    }

    /// Runs the simulation and prints each round and the summary; exits 1 if an update went missing.
    public func run() async throws {
        let work = workDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-simulate-\(UUID().uuidString)").path
        if let data = devices.data { return try await runDevices(data: data, work: work) }
        var simulation = SimulationRun(
            agents: agents, rounds: rounds, inputs: inputs, outputs: outputs, sites: sites, agentsPerProcess: agentsPerProcess, agentState: agentState
        )
        simulation.broker = broker.flatMap(HostPort.init).map { ($0.host, $0.port) }
        simulation.siteAggregators = siteAggregators
        simulation.ingestShards = ingestShards
        let shards = ingestShards == 0 ? "" : " with \(ingestShards) ingest shard(s)"
        let topology =
            sites == 0
            ? "one broker" + shards
            : "\(sites) site brokers bridged to a central one" + (siteAggregators ? ", each with a site aggregator sending partials" : "")
        print("Simulating \(agents) agents x \(rounds) rounds, model \(inputs) x \(outputs), \(topology); work directory \(work)")
        let outcome = try await simulation.run(work: work, executables: URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()) {
            round, seconds, rss in
            print(String(format: "round %4d  %8.1f ms  aggregator RSS %.1f MiB", round, seconds * 1000, Double(rss) / 1_048_576))
        }
        print(Self.summary(outcome))
        if outcome.updatesPerRound.reduce(0, +) != outcome.expectedUpdates || outcome.rejected > 0 { throw ExitCode(1) }
    }

    /// Devices on real data: every published model as it comes, then the time to the target accuracy.
    private func runDevices(data: String, work: String) async throws {
        var fleet = try devices.fleet(agents: agents, data: data)
        fleet.broker = broker.flatMap(HostPort.init).map { ($0.host, $0.port) }
        print("Simulating \(agents) devices on \(data) (\(devices.partition)), \(devices.mode.rawValue) job; work directory \(work)")
        let outcome = try await fleet.run(work: work, executables: URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()) {
            metrics, seconds in
            let staleness = metrics.staleness.map { String(format: "  staleness %.2f", $0.mean) } ?? ""
            print(
                String(
                    format: "%8.2f s  model %4d  updates %3d  accuracy %@", seconds, metrics.round, metrics.updates,
                    metrics.accuracy.map { String(format: "%.4f", $0) } ?? "-")
                    + staleness)
        }
        let reached = outcome.timeToAccuracy(devices.targetAccuracy).map { String(format: "%.2f s", $0) } ?? "not reached"
        let applied = outcome.points.last?.applied ?? 0
        print(
            "accuracy \(devices.targetAccuracy): \(reached); \(applied) updates applied; rejected \(outcome.rejected.isEmpty ? "none" : "\(outcome.rejected)")"
        )
    }

    static func summary(_ outcome: SimulationRun.Outcome) -> String {
        let mib = { (bytes: Int) in String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        return
            ([
                String(
                    format: "latency p50 %.1f ms, p95 %.1f ms, p99 %.1f ms", outcome.percentile(0.5) * 1000, outcome.percentile(0.95) * 1000,
                    outcome.percentile(0.99) * 1000),
                "updates counted \(outcome.updatesPerRound.reduce(0, +)) of \(outcome.expectedUpdates), rejected \(outcome.rejected)",
                "central aggregator ingest per round: max \(outcome.centralIngestPerRound.max() ?? 0) messages (updates or partials)",
                "aggregator RSS after round 1 \(mib(outcome.aggregatorRSS.first ?? 0)), after the last \(mib(outcome.aggregatorRSS.last ?? 0)), "
                    + "peak \(mib(outcome.aggregatorPeakRSS)) (model \(outcome.modelBytes) bytes)",
            ]
            + outcome.usage.map { role in
                String(
                    format: "%@: %d process(es), CPU %.2f s (%.3f ms per agent per round), peak RSS %@ largest, %@ in all", role.role, role.processes,
                    role.cpuSeconds, role.cpuSeconds * 1000 / Double(max(1, outcome.expectedUpdates)), mib(role.largestPeakBytes),
                    mib(role.totalPeakBytes))
            }).joined(separator: "\n")
    }
}

/// `fedmq simulate`'s device options: real data, availability, training times and the job's mode.
struct DeviceOptions: ParsableArguments {
    @Option(help: "Train for real on shards of this CSV (header, 'label' column), e.g. data/digits.csv.") var data: String?
    @Option(help: "How the data are dealt: iid | dirichlet:ALPHA | shards:N | quantity:ALPHA.") var partition = "dirichlet:0.3"
    @Option(help: "always | markov:FRACTION:MEAN_ONLINE_SECONDS | trace:FILE (agent,online_from,online_until).")
    var availability = "always"
    @Option(name: .customLong("training-time"), help: "lognormal:MEDIAN_SECONDS:SIGMA, each training's duration.") var trainingTime: String?
    @Option(help: "FRACTION:FACTOR: this share of the devices trains FACTOR times slower.") var slow: String?
    @Option(help: "rounds or asynchronous.") var mode = JobMode.rounds
    @Option(help: "target_updates: a round's target, or the asynchronous buffer (default: all agents, or a quarter).") var target: Int?
    @Option(name: .customLong("min-updates"), help: "min_updates (default: the target).") var minUpdates: Int?
    @Option(name: .customLong("round-seconds"), help: "A round's deadline.") var roundSeconds = 60.0
    @Option(name: .customLong("max-staleness"), help: "Asynchronous: the oldest version an update may start from.") var maxStaleness = 40
    @Option(help: "Stop once this many updates were applied (default: 20 per agent).") var updates: Int?
    @Option(name: .customLong("time-limit"), help: "Stop after this many seconds in any case.") var timeLimit = 300.0
    @Option(name: .customLong("target-accuracy"), help: "Report when central accuracy first reaches this.") var targetAccuracy = 0.9
    @Option(help: "Seed for the split and the devices' behaviour.") var seed: UInt64 = 0

    /// Whether any option that only devices on real data use was given.
    var changesBehaviour: Bool { availability != "always" || trainingTime != nil || slow != nil || mode != .rounds }

    /// The simulation these options describe, for `agents` devices on `data`.
    func fleet(agents: Int, data: String) throws -> DeviceFleetRun {
        var behaviour = DeviceBehaviour(availability: try DeviceBehaviour.Availability(parsing: availability), seed: seed)
        if let trainingTime {
            let parts = trainingTime.split(separator: ":")
            guard parts.count == 3, parts[0] == "lognormal", let median = Double(parts[1]), median >= 0, let sigma = Double(parts[2]), sigma >= 0
            else { throw ValidationError("--training-time is lognormal:MEDIAN_SECONDS:SIGMA, not '\(trainingTime)'") }
            (behaviour.trainingMedianSeconds, behaviour.trainingSigma) = (median, sigma)
        }
        if let slow {
            let parts = slow.split(separator: ":")
            guard parts.count == 2, let fraction = Double(parts[0]), (0...1).contains(fraction), let factor = Double(parts[1]), factor >= 1 else {
                throw ValidationError("--slow is FRACTION:FACTOR with 0 <= FRACTION <= 1 and FACTOR >= 1, not '\(slow)'")
            }
            (behaviour.slowFraction, behaviour.slowFactor) = (fraction, factor)
        }
        let target = target ?? (mode == .asynchronous ? max(1, agents / 4) : agents)
        guard (1...agents).contains(target), (1...target).contains(minUpdates ?? target) else {
            throw ValidationError("need 1 <= --min-updates <= --target <= --agents")
        }
        let policy = DeviceFleetRun.policy(
            mode: mode, target: target, minimum: minUpdates ?? target, roundSeconds: roundSeconds, maxStaleness: maxStaleness)
        try policy.validate()
        return DeviceFleetRun(
            agents: agents, data: data, partition: partition, policy: policy, behaviour: behaviour, appliedUpdates: updates ?? 20 * agents,
            timeLimit: timeLimit, seed: seed)
    }
}
