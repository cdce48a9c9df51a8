import FedMQCommandLine
import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation

/// N agents, each with its own MQTT connection and training switched to a no-op, in worker
/// processes (`fedmq simulate-agents`), against a real `fedmq-aggregator` process and real
/// brokers: the protocol's own cost. With `sites`, the agents connect to that many site
/// brokers bridged to the central one (`SiteBridge`), where the aggregator runs.
struct SimulationRun {
    static let job = "simulation"
    var agents: Int
    var rounds: Int
    /// The model: softmax regression inputs x outputs (100 x 100: 10,100 parameters).
    var inputs = 100
    var outputs = 100
    /// Use this broker instead of private ones (no sites then).
    var broker: (host: String, port: Int)?
    /// Site brokers bridged to the central one; 0: every agent on the central broker.
    var sites = 0
    /// Hierarchical aggregation: a site aggregator beside each site broker folds its agents'
    /// updates into one partial per round, and only partials cross the bridges.
    var siteAggregators = false
    /// Ingest shards on the central broker: site aggregators that share the agents' updates
    /// through an MQTT 5 shared subscription and send partials to the central aggregator; 0: none.
    var ingestShards = 0
    var agentsPerProcess = SimulatedAgentsCommand.maximumAgents
    /// Where the agents' state folders go. Simulated devices share this machine's one disk,
    /// which no fleet does (each device fsyncs its own), so by default they go to tmpfs
    /// (/dev/shm) and the aggregator's state to `work`, on disk.
    var agentState: String?

    struct Outcome {
        var agents: Int
        var rounds: Int
        /// Seconds from seeing round r open (`global/round`) to seeing its model (`global/model`).
        var latencies: [Double]
        var updatesPerRound: [Int]
        /// What the central aggregator took in per round: updates, or with site aggregators partials.
        var centralIngestPerRound: [Int]
        var rejected: Int
        var modelBytes: Int
        /// The aggregator's resident memory after each round's model was seen, and its peak.
        var aggregatorRSS: [Int]
        var aggregatorPeakRSS: Int
        /// CPU (from round 1's opening to the last model) and peak memory of every process of the run, by role.
        var usage: [RoleUsage]

        var expectedUpdates: Int { agents * rounds }
        func percentile(_ p: Double) -> Double {
            let sorted = latencies.sorted()
            guard !sorted.isEmpty else { return .nan }
            return sorted[min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)]
        }
    }

    /// One role's processes (the aggregator, the central broker, the site brokers, the agents' workers).
    struct RoleUsage: Sendable {
        var role: String
        var processes: Int
        var cpuSeconds: Double
        /// The largest peak RSS of one process of the role, and the sum of the peaks.
        var largestPeakBytes: Int
        var totalPeakBytes: Int

        init(role: String, _ usages: [ProcessUsage]) {
            self.role = role
            processes = usages.count
            cpuSeconds = usages.reduce(0) { $0 + $1.cpuSeconds }
            largestPeakBytes = usages.map(\.peakResidentBytes).max() ?? 0
            totalPeakBytes = usages.reduce(0) { $0 + $1.peakResidentBytes }
        }
    }

    /// - Parameter progress: called with each round's number, latency and the aggregator's RSS as they are seen.
    func run(work: String, executables: URL, progress: @escaping @Sendable (Int, Double, Int) -> Void = { _, _, _ in }) async throws -> Outcome {
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        ProcessUsage.raiseFileLimit()
        let stateRoot = agentState ?? Self.defaultAgentState(work: work)
        defer { if agentState == nil { try? FileManager.default.removeItem(atPath: stateRoot) } }
        if let broker {
            let endpoint = (broker.host, broker.port)
            return try await run(
                central: endpoint, sites: [], brokers: [], work: work, stateRoot: stateRoot, executables: executables, progress: progress)
        }
        // Private brokers, stopped (by PID) and removed however the run ends. A burst of
        // updates must not overrun a queue (the broker's default drops QoS 1 past 1000).
        let queue = "max_queued_messages \(max(100_000, BrokerSizing.queuedMessages(forAgents: agents)))"
        return try await withLocalBroker(LocalBrokerConfiguration(extraLines: [queue])) { central in
            var siteBrokers: [LocalBroker] = []
            do {
                for site in 0..<sites {
                    siteBrokers.append(
                        try await LocalBroker(
                            LocalBrokerConfiguration(
                                extraLines: [queue]
                                    + SiteBridge(site: Self.siteName(site), centralPort: central.port, mode: siteAggregators ? .partials : .updates)
                                    .lines)))
                }
                let outcome = try await run(
                    central: ("127.0.0.1", central.port), sites: siteBrokers.map { ("127.0.0.1", $0.port) }, brokers: [central] + siteBrokers,
                    work: work, stateRoot: stateRoot, executables: executables, progress: progress)
                for site in siteBrokers { await site.remove() }
                return outcome
            } catch {
                for site in siteBrokers { await site.remove() }
                throw error
            }
        }
    }

    private func run(
        central: (host: String, port: Int), sites: [(host: String, port: Int)], brokers: [LocalBroker], work: String, stateRoot: String,
        executables: URL, progress: @escaping @Sendable (Int, Double, Int) -> Void
    ) async throws -> Outcome {
        let topics = try Topics(job: Self.job)
        let data = work + "/data.csv"
        try writeSyntheticData(to: data)

        // Every agent online first, so round 1 measures the round, not the start-up. With site
        // aggregators, statuses stay at the sites: each site broker is watched, for its agents
        // and for its aggregator (subscribed, so its session queues every update).
        let watcher = try MQTTClient(options: ConnectionOptions(host: central.host, port: central.port))
        try await watcher.connect()
        let senders = partialSenders(central: central, sites: sites)
        let watched: [(broker: (host: String, port: Int), agents: Int, senders: [String])] =
            siteAggregators
            ? sites.enumerated().map { index, broker in
                (broker, agents * (index + 1) / sites.count - agents * index / sites.count, [senders[index].name])
            } : [(central, agents, senders.map(\.name))]
        var statusWatchers: [MQTTClient] = []
        var statuses: [MQTTSubscription] = []
        for watch in watched {
            let client = try MQTTClient(options: ConnectionOptions(host: watch.broker.host, port: watch.broker.port))
            try await client.connect()
            let senderTopics = watch.senders.map { topics.siteStatus(site: $0) }
            statuses.append(try await client.subscribe(to: [topics.allStatuses] + senderTopics, qos: .atLeastOnce))
            statusWatchers.append(client)
        }
        let fedmq = try siblingExecutable("fedmq", in: executables)
        let siteProcesses = try startPartialSenders(senders, work: work, executables: executables)
        defer { for site in siteProcesses { site.send(SIGKILL) } }
        let shares = try workerShares(sites: sites.isEmpty ? [central] : sites)
        let workers = try shares.enumerated().map { index, share in
            try ChildProcess(
                fedmq,
                [
                    "simulate-agents", "--broker", "\(share.broker.host):\(share.broker.port)", "--first", "\(share.first)", "--count",
                    "\(share.count)", "--data", data, "--state-directory", stateRoot,
                ], logFile: "\(work)/agents-\(index).log")
        }
        defer { for worker in workers { worker.send(SIGKILL) } }
        for (watch, subscription) in zip(watched, statuses) {
            // The agents of this broker, and its site aggregators or shards.
            let expected = watch.agents + watch.senders.count
            try await withTimeLimit(.seconds(60 + agents / 50), waitingFor: "\(expected) simulated agents and site aggregators to connect") {
                var online = Set<String>()
                for await message in subscription {
                    online.insert(message.topic)
                    if online.count == expected { break }
                }
            }
            subscription.cancel()
        }
        for client in statusWatchers { await client.disconnect() }

        let announcements = try await watcher.subscribe(to: [topics.globalRound, topics.globalModel], qos: .atLeastOnce)
        let aggregator = try ChildProcess(
            try siblingExecutable("fedmq-aggregator", in: executables),
            ["--config", try writeAggregatorConfig(work: work, host: central.host, port: central.port), "--log-level", "notice"],
            logFile: work + "/aggregator.log")
        let roles: [(role: String, pids: [pid_t])] = [
            ("aggregator", [aggregator.pid]), (siteAggregators ? "site aggregators" : "ingest shards", siteProcesses.map(\.pid)),
            ("central broker", brokers.prefix(1).compactMap(\.processIdentifier)),
            ("site brokers", brokers.dropFirst().compactMap(\.processIdentifier)), ("agents (\(workers.count) workers)", workers.map(\.pid)),
        ].filter { !$0.pids.isEmpty }

        /// Each round's latency and the aggregator's RSS, as the watcher sees the rounds open and their models published.
        @Sendable func watchRounds() async throws -> ([Double], [Int], Int, [[ProcessUsage]]) {
            let (rounds, pid) = (rounds, aggregator.pid)
            // CPU counts from round 1's opening: the start-ups are not the rounds' cost.
            var atStart: [[ProcessUsage]]?
            var opened: [Int: ContinuousClock.Instant] = [:]
            var latencies: [Double] = []
            var rss: [Int] = []
            var modelBytes = 0
            for await message in announcements where !message.retain || message.topic == topics.globalRound {
                let now = ContinuousClock.now
                if message.topic == topics.globalRound {
                    if atStart == nil { atStart = roles.map { $0.pids.map(ProcessUsage.of) } }
                    if let round = try? ProtocolJSON.decode(RoundAnnouncement.self, from: message.payload).round, opened[round] == nil {
                        opened[round] = now
                    }
                    continue
                }
                guard let model = try? ModelCodec.decodeModel(message.payload), let start = opened[model.round] else { continue }
                let seconds = Double((now - start).components.attoseconds) * 1e-18 + Double((now - start).components.seconds)
                latencies.append(seconds)
                modelBytes = message.payload.count
                rss.append(ProcessUsage.statusBytes(of: pid, field: "VmRSS"))
                progress(model.round, seconds, rss.last ?? 0)
                if model.round >= rounds { break }
            }
            return (latencies, rss, modelBytes, atStart ?? [])
        }
        let limit = Duration.seconds(60 + rounds * (30 + agents / 100))
        let (latencies, rss, modelBytes, atStart) = try await withTimeLimit(limit, waitingFor: "\(rounds) simulated rounds") {
            try await Self.failingIfExits(
                aggregator, log: work + "/aggregator.log", helpers: zip(siteProcesses, senders).map { ($0, "\(work)/\($1.name).log") }
            ) { try await watchRounds() }
        }
        // The model is published before the round's metrics are appended: wait for the last
        // line, so a round the aggregator counted is never missed (nor one it lost hidden).
        let metricsPath = work + "/aggregator/metrics.jsonl"
        try await withTimeLimit(.seconds(60), waitingFor: "the metrics of \(rounds) rounds in \(metricsPath)") { [rounds] in
            while Self.lineCount(metricsPath) < rounds { try await Task.sleep(for: .milliseconds(50)) }
        }
        let usage = zip(roles, atStart).map { role, start in
            RoleUsage(role: role.role, zip(role.pids.map(ProcessUsage.of), start).map { now, then in now.since(then) })
        }
        let status = await aggregator.stop()
        guard status == 0 else { throw CommandFailure("fedmq-aggregator exited with \(status); see \(work)/aggregator.log") }
        for (sender, process) in zip(senders, siteProcesses) {
            let status = await process.stop()
            guard status == 0 else { throw CommandFailure("the aggregator of \(sender.name) exited with \(status); see \(work)/\(sender.name).log") }
        }
        for worker in workers { await worker.stop() }
        announcements.cancel()
        await watcher.disconnect()
        let metrics = try String(contentsOfFile: metricsPath, encoding: .utf8).split(separator: "\n")
            .map { try ProtocolJSON.decode(RoundMetrics.self, from: Array($0.utf8)) }
        return Outcome(
            agents: agents, rounds: rounds, latencies: latencies, updatesPerRound: metrics.map(\.updates),
            centralIngestPerRound: metrics.map { $0.participants.count + $0.rejected.values.reduce(0, +) },
            rejected: metrics.reduce(0) { $0 + $1.rejected.values.reduce(0, +) }, modelBytes: modelBytes, aggregatorRSS: rss,
            aggregatorPeakRSS: max(usage.first?.largestPeakBytes ?? 0, rss.max() ?? 0), usage: usage)
    }

    /// Runs `body`, failing with the process's log as soon as `process` exits (a refused config, a
    /// crash), or one of `helpers` exits with an error (a helper may end cleanly when the job does).
    static func failingIfExits<Result: Sendable>(
        _ process: ChildProcess, log: String, helpers: [(process: ChildProcess, log: String)] = [],
        _ body: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask { try await body() }
            for (watched, log, cleanExitAllowed) in [(process, log, false)] + helpers.map({ ($0.process, $0.log, true) }) {
                group.addTask {
                    let status = try await watched.wait()
                    if status == 0 && cleanExitAllowed {
                        try await Task.sleep(for: .seconds(1 << 30))
                        return nil
                    }
                    let tail = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").suffix(5).joined(separator: "\n")
                    throw CommandFailure(
                        "\((watched.command as NSString).lastPathComponent.prefix(60)) exited with \(status) during the run:\n\(tail)")
                }
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let result = next { return result }
            }
            throw CancellationError()
        }
    }

    /// Each worker's agents: the agents are dealt to the brokers in contiguous ranges, and each
    /// range into workers of at most `agentsPerProcess`.
    func workerShares(sites brokers: [(host: String, port: Int)]) throws -> [(broker: (host: String, port: Int), first: Int, count: Int)] {
        guard !brokers.isEmpty, (1...SimulatedAgentsCommand.maximumAgents).contains(agentsPerProcess) else {
            throw CommandFailure("agents per process must be within 1...\(SimulatedAgentsCommand.maximumAgents)")
        }
        var shares: [(broker: (host: String, port: Int), first: Int, count: Int)] = []
        var next = 0
        for (index, broker) in brokers.enumerated() {
            let end = agents * (index + 1) / brokers.count
            while next < end {
                let count = min(agentsPerProcess, end - next)
                shares.append((broker, next, count))
                next += count
            }
        }
        return shares
    }

    /// The name of site `index`.
    static func siteName(_ index: Int) -> String { "site\(index)" }

    /// The processes that send the central aggregator partials: a site aggregator per site
    /// broker, or the ingest shards on the central broker.
    private func partialSenders(
        central: (host: String, port: Int), sites: [(host: String, port: Int)]
    ) -> [(name: String, broker: (host: String, port: Int), group: String?)] {
        if siteAggregators { return sites.enumerated().map { (Self.siteName($0), $1, nil) } }
        return (0..<ingestShards).map { (Self.shardName($0), central, Self.ingestGroup) }
    }

    /// The name of ingest shard `index`.
    static func shardName(_ index: Int) -> String { "shard\(index)" }

    /// The shards' shared-subscription group.
    static let ingestGroup = "ingest"

    /// A `fedmq-aggregator --site` process for each sender; its log and state go to `work`.
    private func startPartialSenders(
        _ senders: [(name: String, broker: (host: String, port: Int), group: String?)], work: String, executables: URL
    ) throws -> [ChildProcess] {
        let program = try siblingExecutable("fedmq-aggregator", in: executables)
        return try senders.map { sender in
            try ChildProcess(
                program,
                [
                    "--site", sender.name, "--job", Self.job, "--host", sender.broker.host, "--port", "\(sender.broker.port)", "--state-dir",
                    "\(work)/\(sender.name)", "--log-level", "notice",
                ] + (sender.group.map { ["--ingest-group", $0] } ?? []), logFile: "\(work)/\(sender.name).log")
        }
    }

    /// Lines in a file (0 if it cannot be read).
    static func lineCount(_ path: String) -> Int {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    /// A fresh folder on tmpfs when the machine has one, else under `work`.
    static func defaultAgentState(work: String) -> String {
        let shm = "/dev/shm"
        guard access(shm, W_OK) == 0 else { return work + "/agents" }
        return "\(shm)/fedmq-simulate-\(UUID().uuidString)"
    }

    private func writeSyntheticData(to path: String) throws {
        var random = SplitMix64(seed: 7)
        let rows = 8
        let features = (0..<(rows * inputs)).map { _ in Float(random.nextGaussian()) }
        let targets = (0..<rows).map { Float($0 % outputs) }
        try CSVWriter.write(try Dataset(features: features, targets: targets, featureCount: inputs), to: path)
    }

    private func writeAggregatorConfig(work: String, host: String, port: Int) throws -> String {
        // With site aggregators the central round waits for every site's partial.
        let senders = siteAggregators ? sites : ingestShards
        let contributors = senders > 0 ? senders : agents
        var policy = RoundPolicy(
            rounds: rounds, targetUpdates: contributors, minUpdates: contributors, roundSeconds: Double(120 + agents / 50), extensionSeconds: 30,
            maxUpdateBytes: max(1 << 20, 8 * (inputs + 1) * outputs), training: TrainingConfig(learningRate: 0.1, batchSize: 8, epochs: 1))
        if siteAggregators { policy.sites = (0..<sites).map(Self.siteName) }
        if ingestShards > 0 {
            policy.sites = (0..<ingestShards).map(Self.shardName)
            policy.ingestShards = true
        }
        let config: [String: Any] = [
            // It stays up after the last round, so its memory can still be read; the run stops it.
            "job": Self.job, "broker": ["host": host, "port": port], "state_directory": work + "/aggregator", "exit_when_finished": false,
            "model": try JSONSerialization.jsonObject(
                with: Data(ModelSpec(kind: .softmaxRegression, inputs: inputs, outputs: outputs).jsonString().utf8)),
            "policy": try JSONSerialization.jsonObject(with: Data(ProtocolJSON.encode(policy))),
        ]
        let path = work + "/aggregator.json"
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: path))
        return path
    }
}
