import ArgumentParser
import FedMQCommandLine
import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation

/// `fedmq bench secagg`: what secure aggregation costs each agent (bytes, CPU) and the round
/// (latency), beside plain FedAvg updates of the same model, through a private mosquitto.
struct SecAggBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secagg",
        abstract: "Secure aggregation vs plain FedAvg: per-agent bytes and CPU, round latency, for N agents."
    )

    @OptionGroup var output: BenchOutputOptions
    @Option(name: .customLong("agents"), help: "Cohort sizes (repeatable).") var cohorts = [10, 100]
    @Option(name: .customLong("parameters"), help: "Model sizes in parameters (repeatable).") var sizes = [2_410, 100_000]
    @Option(help: "Rounds of the accuracy runs on digits.") var rounds = 30
    @Option(name: .customLong("epsilon"), help: "Privacy targets of the accuracy runs (repeatable).") var epsilons = [1.0, 3.0, 8.0]
    @Option(help: "The digits CSV.") var data = "data/digits.csv"

    func validate() throws {
        guard cohorts.allSatisfy({ (3...500).contains($0) }), sizes.allSatisfy({ (10...2_000_000).contains($0) }) else {
            throw ValidationError("--agents must be within 3...500 and --parameters within 10...2000000")
        }
    }

    struct Measured {
        var bytesPerAgent: Double
        var cpuMillisecondsPerAgent: Double
        var latencySeconds: Double

        init(_ costs: [SecAggSession.AgentCost], latency: Duration) {
            bytesPerAgent = Double(costs.reduce(0) { $0 + $1.bytesSent + $1.bytesReceived }) / Double(costs.count)
            cpuMillisecondsPerAgent = 1000 * costs.reduce(0) { $0 + $1.cpuSeconds } / Double(costs.count)
            latencySeconds = Double(latency.components.seconds) + Double(latency.components.attoseconds) / 1e18
        }
    }

    func run() async throws {
        let machine = BenchmarkReport.machine()
        var results: [BenchmarkResult] = []
        var rows: [String] = []
        for cohort in cohorts {
            for size in sizes {
                var pairs: [(secure: Measured, plain: Measured)] = []
                var graph = (degree: 0, threshold: 0)
                for run in 1...output.runs {
                    let secure = try await Self.secureRound(cohort: cohort, parameters: size)
                    let plain = try await Self.plainRound(cohort: cohort, parameters: size)
                    graph = try SecAggGraph.parameters(cohort: cohort, dropout: Self.dropout, corruption: Self.corruption)
                    pairs.append((secure, plain))
                    print(
                        String(
                            format: "%d agents, %d parameters, run %d: secure %.0f B / %.1f ms / %.2f s, plain %.0f B / %.1f ms / %.2f s", cohort,
                            size, run,
                            secure.bytesPerAgent, secure.cpuMillisecondsPerAgent, secure.latencySeconds, plain.bytesPerAgent,
                            plain.cpuMillisecondsPerAgent, plain.latencySeconds))
                }
                let peer = "plain FedAvg updates (float32, same run)"
                let bytes = BenchmarkResult(
                    name: "secagg-\(cohort)-\(size)-bytes", metric: "payload bytes per agent per round (sent + received, new model included)",
                    peerName: peer, goal: cohort >= 100 ? "<= 1.2x plain" : "reported", check: cohort >= 100 ? { $0 <= 1.2 * $1 } : nil,
                    machine: machine, runs: pairs.map { .init(fedmq: $0.secure.bytesPerAgent, peer: $0.plain.bytesPerAgent) })
                let cpu = BenchmarkResult(
                    name: "secagg-\(cohort)-\(size)-cpu", metric: "agent CPU ms per round (protocol work, training excluded)", peerName: peer,
                    goal: "reported", check: nil, machine: machine,
                    runs: pairs.map { .init(fedmq: $0.secure.cpuMillisecondsPerAgent, peer: $0.plain.cpuMillisecondsPerAgent) })
                let latency = BenchmarkResult(
                    name: "secagg-\(cohort)-\(size)-latency", metric: "round latency s (first message to new model published)", peerName: peer,
                    goal: "reported", check: nil, machine: machine,
                    runs: pairs.map { .init(fedmq: $0.secure.latencySeconds, peer: $0.plain.latencySeconds) })
                results += [bytes, cpu, latency]
                rows.append(
                    "| \(cohort) | \(size) | \(graph.degree) / \(graph.threshold) | \(BenchmarkReport.format(bytes.fedmq)) | \(BenchmarkReport.format(bytes.peer)) "
                        + "| \(BenchmarkReport.format(bytes.ratio, digits: 2))x | \(bytes.goal == "reported" ? "–" : bytes.goalMet ? "yes" : "**no**") "
                        + "| \(BenchmarkReport.format(cpu.fedmq, digits: 1)) | \(BenchmarkReport.format(cpu.peer, digits: 2)) "
                        + "| \(BenchmarkReport.format(latency.fedmq, digits: 2)) | \(BenchmarkReport.format(latency.peer, digits: 2)) |")
            }
        }
        let (accuracyResults, accuracyRows) = try accuracy(machine: machine)
        results += accuracyResults
        try BenchmarkReport.writeJSON(results, to: output.results)
        let text =
            ([
                "## Secure aggregation (`make bench-secagg`)",
                "",
                "One round through a private mosquitto, every agent an MQTT connection of its own in one process, the aggregator's side",
                "another: secure aggregation (keys, shares, masked update, reveal; k neighbours and threshold t from the cohort with",
                "10% dropout and 10% corruption allowed) beside plain FedAvg (each agent publishes its float32 update). Both end",
                "with the new model on `global/model`, which every agent receives. Bytes are payload bytes each agent sent and",
                "received (MQTT headers not counted), CPU is each agent's protocol work measured per thread (key agreement,",
                "Shamir, ChaCha20 masks, encoding; no training), latency is from the round's start to the new model. Medians of",
                "\(output.runs) runs. Machine: \(machine).",
                "",
                "| agents | parameters | k / t | secure bytes per agent | plain bytes | ratio | goal <= 1.2x met | secure CPU ms | plain CPU ms | secure latency s | plain latency s |",
                "|---|---|---|---|---|---|---|---|---|---|---|",
            ] + rows + [
                "",
                "Accuracy on digits (80/20 split, IID over 10 agents, MLP 64-32-10, one epoch of SGD per round, \(rounds) rounds, in one",
                "process: each round's deltas go through the real state machines in memory, keys, shares, masks and all). Secure",
                "aggregation quantizes to 2^-20 steps; with privacy each agent clips its delta to L2 norm 1 and adds discrete Gaussian",
                "noise sized for 10% dropout and 10% corruption, and epsilon (delta 1e-5) is that of the published model against the",
                "aggregator and one colluding agent. Medians of \(output.runs) runs (spread min–max).",
                "",
                "| setting | noise multiplier of the sum | epsilon after \(rounds) rounds | accuracy | plain FedAvg (mean) accuracy | spread | within 1 point |",
                "|---|---|---|---|---|---|---|",
            ] + accuracyRows + ["", "Figures: `bench/results/secagg.json`."]).joined(separator: "\n")
        try BenchmarkReport.replaceSection("secagg", with: text, in: output.markdown)
        print(text)
    }

    /// Final accuracy of plain mean, secure aggregation, and secure aggregation with distributed
    /// privacy at each target epsilon.
    func accuracy(machine: String) throws -> ([BenchmarkResult], [String]) {
        let all = try CSVReader.read(file: data, options: CSVOptions(hasHeader: true, label: .name("label")))
        let spec = ModelSpec(kind: .mlp, inputs: 64, hidden: [32], outputs: 10)
        let training = TrainingConfig(learningRate: 0.05, momentum: 0.9, batchSize: 32, epochs: 1)
        let settings = SecureAggregationSettings(quantization: SecAggQuantization(clip: 1, scale: 1_048_576))
        let honest = 10 - Int(settings.corruptionRate * 10)
        // The agents' noise multiplier z that gives the sum multiplier zSum: zSum = z * sqrt(honest / (m (1 - dropout - corruption))).
        let privacySettings: [(name: String, epsilon: Double?, privacy: ClientPrivacy?)] =
            [("secure aggregation", nil, nil)]
            + epsilons.map { target in
                let sum = Self.multiplier(forEpsilon: target, rounds: rounds, delta: 1e-5)
                let z = sum * (10 * (1 - settings.dropoutRate - settings.corruptionRate) / Double(honest)).squareRoot()
                return (
                    "secure aggregation, distributed DP", target,
                    ClientPrivacy(mode: .distributed, clipNorm: 1, noiseMultiplier: z, expectedCohort: 10)
                )
            }
        var plain: [Double] = []
        var secure = [[Double]](repeating: [], count: privacySettings.count)
        for run in 1...output.runs {
            let seed = UInt64(run)
            let (clients, test) = try StrategiesBenchCommand.federate(all, partitioner: .iid, seed: seed)
            let simulation = FederatedSimulation(spec: spec, clients: clients, rounds: rounds, training: training, seed: seed)
            let initial = try spec.initialParameters(seed: seed)
            plain.append(
                try Evaluation.evaluate(try simulation.run(from: initial, strategy: FedAvg(weighting: .uniform)), spec: spec, on: test).accuracy ?? 0)
            for (index, setting) in privacySettings.enumerated() {
                let strategy = SecureMeanStrategy(settings: settings, privacy: setting.privacy, seed: seed &* 97 &+ UInt64(index))
                let model = try simulation.run(from: initial, strategy: strategy)
                secure[index].append(try Evaluation.evaluate(model, spec: spec, on: test).accuracy ?? 0)
            }
            print("accuracy run \(run): plain \(plain.last!), secure \(secure.map { $0.last! })")
        }
        var results: [BenchmarkResult] = []
        var rows: [String] = []
        for (index, setting) in privacySettings.enumerated() {
            let sumMultiplier = setting.privacy.map {
                SecAggNoise.publishedMultiplier(
                    $0, settings, dimension: spec.parameterLayout.reduce(0) { $0 + $1.1.reduce(1, *) }, survivors: 10, cohort: 10)
            }
            var accountant = RDPAccountant()
            if let sumMultiplier { try accountant.compose(.gaussian(noiseMultiplier: sumMultiplier), count: rounds) }
            let epsilon = sumMultiplier == nil ? nil : accountant.epsilon(delta: 1e-5).epsilon
            let label = setting.epsilon.map { "secagg-accuracy-epsilon-\(BenchmarkReport.format($0))" } ?? "secagg-accuracy"
            let result = BenchmarkResult(
                name: label, metric: "final test accuracy: \(setting.name)\(epsilon.map { String(format: " (epsilon %.2f)", $0) } ?? "")",
                peerName: "plain FedAvg, uniform mean (same run)", goal: setting.privacy == nil ? "<= 1 point below plain" : "reported",
                check: setting.privacy == nil ? { $0 >= $1 - 0.01 } : nil, machine: machine,
                runs: zip(secure[index], plain).map { .init(fedmq: $0, peer: $1) })
            results.append(result)
            rows.append(
                "| \(setting.name) | \(sumMultiplier.map { BenchmarkReport.format($0, digits: 2) } ?? "–") | \(epsilon.map { BenchmarkReport.format($0, digits: 2) } ?? "–") "
                    + "| \(BenchmarkReport.format(result.fedmq, digits: 4)) | \(BenchmarkReport.format(result.peer, digits: 4)) "
                    + "| \(BenchmarkReport.spread(secure[index], digits: 4)) | \(setting.privacy == nil ? (result.goalMet ? "yes" : "**no**") : "–") |"
            )
        }
        return (results, rows)
    }

    /// The Gaussian noise multiplier whose `rounds` compositions give `target` epsilon at `delta`.
    static func multiplier(forEpsilon target: Double, rounds: Int, delta: Double) -> Double {
        var (low, high) = (0.1, 1000.0)
        for _ in 0..<80 {
            let middle = (low + high) / 2
            var accountant = RDPAccountant()
            try? accountant.compose(.gaussian(noiseMultiplier: middle), count: rounds)
            if accountant.epsilon(delta: delta).epsilon > target { low = middle } else { high = middle }
        }
        return high
    }

    static let job = "bench"
    static let dropout = 0.1
    static let corruption = 0.1

    static func inputs(cohort: Int, parameters: Int) -> [Parameters] {
        var random = SplitMix64(seed: UInt64(cohort))
        return (0..<cohort).map { _ in
            (try? Parameters([Tensor(name: "w", shape: [parameters], values: (0..<parameters).map { _ in Float(random.nextUnit() * 0.2 - 0.1) })]))!
        }
    }

    static func modelBytes(parameters: Int) -> [UInt8] {
        let spec = ModelSpec(kind: .softmaxRegression, inputs: max(1, parameters / 10 - 1), outputs: 10)
        return ModelCodec.encodeModel((try? spec.initialParameters(seed: 0))!, spec: spec, job: job, round: 1)
    }

    static func secureRound(cohort: Int, parameters: Int) async throws -> Measured {
        let names = (0..<cohort).map { String(format: "agent-%03d", $0) }
        let identities = Dictionary(uniqueKeysWithValues: names.map { ($0, SigningKey()) })
        let quantization = SecAggQuantization(clip: 1, scale: 1_048_576)
        var random = SplitMix64(seed: 1)
        let deltas = inputs(cohort: cohort, parameters: parameters)
        let words = Dictionary(uniqueKeysWithValues: zip(names, deltas.map { quantization.encode($0, using: &random) }))
        let model = modelBytes(parameters: parameters)
        return try await round(names: names, subscribing: try Topics(job: job).allSecAgg) { aggregator, incoming in
            _ = try await SecAggSession.aggregate(
                job: job, round: 1, dimension: parameters, cohort: names, enrolled: identities.mapValues(\.publicKey), dropout: dropout,
                corruption: corruption, client: aggregator, incoming: incoming, survivors: cohort, model: model)
        } agent: { name, options in
            try await SecAggSession.agent(
                name, job: job, round: 1, identity: identities[name]!,
                requirements: SecAggRequirements(enrolled: identities.mapValues(\.publicKey), dropoutRate: dropout, corruptionRate: corruption),
                input: words[name]!, dropsAfterSharing: false, options: options)
        }
    }

    static func plainRound(cohort: Int, parameters: Int) async throws -> Measured {
        let names = (0..<cohort).map { String(format: "agent-%03d", $0) }
        let deltas = Dictionary(uniqueKeysWithValues: zip(names, inputs(cohort: cohort, parameters: parameters)))
        let model = modelBytes(parameters: parameters)
        let topics = try Topics(job: job)
        return try await round(names: names, subscribing: topics.allUpdates) { aggregator, incoming in
            var sum = [Float](repeating: 0, count: parameters)
            var received = 0
            for await message in incoming {
                let delta = try SafetensorsDecoder.decode(message.payload).tensors[0].values
                for index in sum.indices { sum[index] += delta[index] }
                received += 1
                if received == cohort { break }
            }
            _ = try await aggregator.publish(
                topics.globalModel, payload: model, qos: .atLeastOnce, retain: true, messageExpiry: 300, userProperties: [])
        } agent: { name, options in
            var cost = SecAggSession.AgentCost()
            let client = try MQTTClient(options: options)
            try await client.connect()
            let models = try await client.subscribe(to: [topics.globalModel], qos: .atLeastOnce)
            let payload = SecAggSession.measured(&cost) {
                ModelCodec.encodeUpdate(
                    deltas[name]!, encoding: .float32, job: job, round: 1, agent: name, baseSHA256: String(repeating: "0", count: 64), examples: 1)
            }
            cost.bytesSent = payload.count
            _ = try await client.publish(
                topics.update(round: 1, agent: name), payload: payload, qos: .atLeastOnce, retain: false, messageExpiry: 300, userProperties: [])
            for await message in models {
                cost.bytesReceived += message.payload.count
                break
            }
            await client.disconnect()
            return cost
        }
    }

    /// One round through a private broker: the aggregator's client subscribed to `filter` before
    /// any agent starts (as an aggregator is before a round opens), `aggregate` beside one
    /// `agent` task per name with its own connection; the agents' costs and the round's latency.
    static func round(
        names: [String], subscribing filter: String,
        aggregate: @escaping @Sendable (MQTTClient, MQTTSubscription) async throws -> Void,
        agent: @escaping @Sendable (String, ConnectionOptions) async throws -> SecAggSession.AgentCost
    ) async throws -> Measured {
        try await withLocalBroker(LocalBrokerConfiguration(extraLines: ["max_queued_messages 100000"])) { broker in
            let aggregator = try MQTTClient(options: ConnectionOptions(port: broker.port, clientID: "aggregator"))
            try await aggregator.connect()
            let incoming = try await aggregator.subscribe(to: [filter], qos: .atLeastOnce)
            let start = ContinuousClock.now
            let costs = try await withThrowingTaskGroup(of: SecAggSession.AgentCost?.self) { group in
                group.addTask {
                    try await aggregate(aggregator, incoming)
                    return nil
                }
                for name in names {
                    group.addTask { try await agent(name, ConnectionOptions(port: broker.port, clientID: name)) }
                }
                var costs: [SecAggSession.AgentCost] = []
                for try await cost in group { if let cost { costs.append(cost) } }
                return costs
            }
            let latency = ContinuousClock.now - start
            await aggregator.disconnect()
            return Measured(costs, latency: latency)
        }
    }
}
