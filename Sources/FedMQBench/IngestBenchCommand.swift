import ArgumentParser
import FedMQCommandLine
import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation

/// `fedmq bench ingest`: how fast the aggregator takes in one round of updates through a real
/// broker, beside the broker's own pass-through rate to `mosquitto_sub` in the same run.
struct IngestBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Aggregator ingest: N agents publish one update each (10 k, 1 M, 10 M parameters); rate vs mosquitto_sub; aggregator memory."
    )

    @OptionGroup var output: BenchOutputOptions
    @Option(help: "Agents, one update each.") var agents = 100
    @Option(name: .customLong("parameters"), help: "Model sizes in parameters (repeatable).") var sizes = [10_000, 1_000_000, 10_000_000]

    func validate() throws {
        guard (2...1000).contains(agents), sizes.allSatisfy({ (100...20_000_000).contains($0) }) else {
            throw ValidationError("--agents must be within 2...1000 and --parameters within 100...20000000")
        }
    }

    func run() async throws {
        let machine = BenchmarkReport.machine()
        let executables = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var results: [BenchmarkResult] = []
        var rows: [String] = []
        for size in sizes {
            var rates: [BenchmarkResult.Run] = []
            var memory: [BenchmarkResult.Run] = []
            var payloadBytes = 0
            for run in 1...output.runs {
                let measured = try await IngestRun(agents: agents, parameters: size).run(executables: executables)
                // Half the agents: memory that tracks the burst would halve; O(model) memory stays.
                let half = try await IngestRun(agents: agents / 2, parameters: size).run(executables: executables)
                payloadBytes = measured.payloadBytes
                rates.append(.init(fedmq: measured.aggregatorSeconds, peer: measured.passThroughSeconds))
                memory.append(.init(fedmq: measured.peakGrowthOverModel, peer: half.peakGrowthOverModel))
                print(
                    String(
                        format:
                            "%d parameters, run %d: aggregator %.2f s, mosquitto_sub %.2f s, aggregator memory growth %.1fx the model (%.1fx with %d agents)",
                        size, run, measured.aggregatorSeconds, measured.passThroughSeconds, measured.peakGrowthOverModel,
                        half.peakGrowthOverModel, agents / 2))
            }
            let megabytes = Double(agents * payloadBytes) / 1e6
            let throughput = rates.map { BenchmarkResult.Run(fedmq: megabytes / $0.fedmq, peer: megabytes / $0.peer) }
            let fedmq = BenchmarkReport.median(throughput.map(\.fedmq))
            let peer = BenchmarkReport.median(throughput.map(\.peer))
            let growth = BenchmarkReport.median(memory.map(\.fedmq))
            let halfGrowth = BenchmarkReport.median(memory.map(\.peer))
            // Holding the burst would add agents/2 model sizes; allow an eighth of the agents for noise.
            let bounded = growth - halfGrowth <= Double(agents) / 8
            results.append(
                BenchmarkResult(
                    name: "ingest-\(size)-throughput", metric: "MB/s of updates, first publish to global model published", fedmq: fedmq, peer: peer,
                    peerName: "mosquitto_sub reading the same stream to /dev/null", goal: "ratio >= 0.8", goalMet: fedmq / peer >= 0.8,
                    machine: machine, runs: throughput))
            results.append(
                BenchmarkResult(
                    name: "ingest-\(size)-memory", metric: "aggregator peak RSS growth during the round / model bytes, \(agents) agents",
                    fedmq: growth, peer: halfGrowth, peerName: "the same with \(agents / 2) agents",
                    goal:
                        "O(model): growth with \(agents) agents minus growth with \(agents / 2) <= \(agents / 8) model sizes (holding the burst adds \(agents / 2))",
                    goalMet: bounded, machine: machine, runs: memory))
            rows.append(
                "| \(size) | \(payloadBytes) | \(BenchmarkReport.format(Double(agents) * fedmq / megabytes, digits: 1)) | \(BenchmarkReport.format(fedmq, digits: 1)) "
                    + "| \(BenchmarkReport.format(peer, digits: 1)) | \(BenchmarkReport.format(fedmq / peer, digits: 2)) | \(fedmq / peer >= 0.8 ? "yes" : "**no**") "
                    + "| \(BenchmarkReport.format(growth, digits: 1))x | \(BenchmarkReport.format(halfGrowth, digits: 1))x | \(bounded ? "yes" : "**no**") |"
            )
        }
        try BenchmarkReport.writeJSON(results, to: output.results)
        let text =
            ([
                "## Aggregator ingest (`make bench-ingest`)",
                "",
                "\(agents) agents (MQTT connections in one process) each publish one float32 update at QoS 1, all at once, through",
                "a private mosquitto to a real `fedmq-aggregator` (FedMQ, one round, closing at \(agents) updates). The aggregator's time",
                "runs from the first publish to the new global model arriving at a subscriber; it includes validating, spooling",
                "(fsync) and averaging every update. In the same run `mosquitto_sub` reads the same updates to /dev/null: the",
                "broker's pass-through rate. Memory growth is the aggregator's peak RSS during the round minus its RSS before it, over",
                "the model's size, also measured with \(agents / 2) agents: memory that holds the burst grows by \(agents / 2) model sizes",
                "between the two, O(model) memory does not (goal: at most \(agents / 8) more, for noise). Medians of \(output.runs) runs.",
                "Machine: \(machine).",
                "",
                "| parameters | bytes per update | updates/s | aggregator MB/s | mosquitto_sub MB/s | ratio | goal >= 0.8 met | memory growth / model | with \(agents / 2) agents | O(model) met |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ] + rows + ["", "Figures: `bench/results/ingest.json`."]).joined(separator: "\n")
        try BenchmarkReport.replaceSection("ingest", with: text, in: output.markdown)
        print(text)
    }
}

/// One ingest round: a private broker, the aggregator process, N publishers and mosquitto_sub.
struct IngestRun {
    static let job = "ingest"
    var agents: Int
    var parameters: Int

    struct Outcome {
        var aggregatorSeconds: Double
        var passThroughSeconds: Double
        var payloadBytes: Int
        var peakGrowthOverModel: Double
    }

    func run(executables: URL) async throws -> Outcome {
        // The private broker is stopped (by PID) and removed however the run ends.
        try await withLocalBroker(LocalBrokerConfiguration(extraLines: ["max_queued_messages 100000"])) { broker in
            try await run(broker: broker, executables: executables)
        }
    }

    private func run(broker: LocalBroker, executables: URL) async throws -> Outcome {
        let work = broker.directory.path
        let topics = try Topics(job: Self.job)
        let spec = ModelSpec(kind: .softmaxRegression, inputs: max(1, parameters / 10 - 1), outputs: 10)
        let policy = RoundPolicy(rounds: 1, targetUpdates: agents, minUpdates: agents, roundSeconds: 600, maxUpdateBytes: 128 << 20)
        let config: [String: Any] = [
            "job": Self.job, "broker": ["host": "127.0.0.1", "port": broker.port], "state_directory": work + "/aggregator",
            "model": try JSONSerialization.jsonObject(with: Data(spec.jsonString().utf8)),
            "policy": try JSONSerialization.jsonObject(with: Data(ProtocolJSON.encode(policy))),
        ]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: work + "/aggregator.json"))

        let watcher = try MQTTClient(options: ConnectionOptions(port: broker.port))
        try await watcher.connect()
        let announcements = try await watcher.subscribe(to: [topics.globalRound, topics.globalModel], qos: .atLeastOnce)
        let aggregator = try ChildProcess(
            try siblingExecutable("fedmq-aggregator", in: executables), ["--config", work + "/aggregator.json", "--log-level", "warning"],
            logFile: work + "/aggregator.log")
        // The open round and its base model (retained), then the aggregator's memory before any update.
        let (round, base) = try await withTimeLimit(.seconds(60), waitingFor: "round 1 to open") {
            var round: RoundAnnouncement?
            var model: GlobalModel?
            for await message in announcements {
                if message.topic == topics.globalRound { round = try? ProtocolJSON.decode(RoundAnnouncement.self, from: message.payload) }
                if message.topic == topics.globalModel { model = try? ModelCodec.decodeModel(message.payload) }
                if let round, let model { return (round, model) }
            }
            throw CommandFailure("the watcher's subscription ended")
        }
        let before = ProcessUsage.statusBytes(of: aggregator.pid, field: "VmRSS")

        var delta = base.parameters
        delta.scale(by: 0)
        let payloads = (0..<agents).map { index in
            ModelCodec.encodeUpdate(
                delta, encoding: .float32, job: Self.job, round: round.round, agent: "ingest-\(index)", baseSHA256: base.sha256, examples: 1)
        }
        let publishers = try (0..<agents).map { index in try MQTTClient(options: ConnectionOptions(port: broker.port, clientID: "ingest-\(index)")) }
        for publisher in publishers { try await publisher.connect() }
        let passThrough = try ChildProcess(
            try Programs.path(of: "mosquitto_sub"), ["-p", "\(broker.port)", "-q", "1", "-C", "\(agents)", "-t", topics.allUpdates],
            logFile: "/dev/null")
        try await Task.sleep(for: .milliseconds(500))  // mosquitto_sub has subscribed

        let peak = Task { [pid = aggregator.pid] in
            var highest = 0
            while !Task.isCancelled {
                highest = max(highest, ProcessUsage.statusBytes(of: pid, field: "VmRSS"))
                try? await Task.sleep(for: .milliseconds(20))
            }
            return highest
        }
        let clock = ContinuousClock()
        let start = clock.now
        let sent = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (publisher, (index, payload)) in zip(publishers, payloads.enumerated()) {
                    group.addTask {
                        _ = try await publisher.publish(
                            topics.update(round: round.round, agent: "ingest-\(index)"), payload: payload, qos: .atLeastOnce, retain: false,
                            messageExpiry: nil, userProperties: [])
                    }
                }
                try await group.waitForAll()
            }
        }
        let brokerDone = Task { () -> Duration in
            _ = try await passThrough.wait()
            return clock.now - start
        }
        try await withTimeLimit(.seconds(900), waitingFor: "the aggregated model") {
            for await message in announcements where message.topic == topics.globalModel {
                if (try? ModelCodec.decodeModel(message.payload).round) == round.round { return }
            }
        }
        let aggregatorTime = clock.now - start
        let highest = await {
            peak.cancel()
            return await peak.value
        }()
        try await sent.value
        let passThroughTime = try await withTimeLimit(.seconds(120), waitingFor: "mosquitto_sub") { try await brokerDone.value }
        _ = await aggregator.stop()
        for publisher in publishers { await publisher.disconnect() }
        await watcher.disconnect()
        let seconds = { (duration: Duration) in Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18 }
        return Outcome(
            aggregatorSeconds: seconds(aggregatorTime), passThroughSeconds: seconds(passThroughTime), payloadBytes: payloads[0].count,
            peakGrowthOverModel: Double(max(0, highest - before)) / Double(base.parameters.count * 4))
    }
}
