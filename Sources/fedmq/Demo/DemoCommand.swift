import ArgumentParser
import FedMQCommandLine
import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation

/// `fedmq demo`: a whole federated job on this machine, as separate processes.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a federated job locally: a private mosquitto, the aggregator and N agents as separate processes.",
        discussion: """
            Prints one line per round, the mosquitto_sub command to watch from another terminal, and a summary;
            writes OUT/metrics.csv and OUT/report.svg. Ctrl-C stops every process it started.
            """
    )

    @Option(help: "Number of agents (processes).") var agents = 10
    @Option(help: "Rounds.") var rounds = 20
    @Option(help: "digits or breast_cancer (from data/).") var dataset = "digits"
    @Option(help: "mlp or softmax.") var model = "mlp"
    @Option(help: "iid | dirichlet:ALPHA | shards:N | quantity:ALPHA") var partition = "dirichlet:0.5"
    @Option(help: "Use this broker (HOST:PORT) instead of starting a private one.") var broker: String?
    @Option(help: "Output directory.") var out = "demo-out"
    @Option(name: .customLong("work-dir"), help: "Where data splits, configs, state and logs go (default: a new temporary folder).")
    var workDirectory: String?
    @Option(help: "Seed for the split and the model.") var seed: UInt64 = 0
    @Option(help: "rounds (lock-step) or asynchronous (buffered: agents train on the newest version they hold).") var mode = JobMode.rounds
    @Option(help: "Asynchronous mode: updates per buffer, one version each (default: half the agents).") var buffer: Int?
    @Flag(help: "Homomorphic aggregation: agents encrypt their updates under a key holder's Paillier key; only each round's sum is decrypted.")
    var homomorphic = false
    @Option(help: "Differential privacy: distributed, local, central or none.") var privacy = "distributed"
    @Option(name: .customLong("noise-multiplier"), help: "Noise multiplier z of the published model (per round).") var noiseMultiplier = 0.5
    @Option(name: .customLong("clip-norm"), help: "L2 bound C on each agent's update.") var clipNorm = 1.0

    func validate() throws {
        guard (1...200).contains(agents) else { throw ValidationError("--agents must be within 1...200") }
        guard (1...1000).contains(rounds) else { throw ValidationError("--rounds must be within 1...1000") }
        guard ["digits", "breast_cancer"].contains(dataset) else { throw ValidationError("--dataset is digits or breast_cancer") }
        guard ["mlp", "softmax"].contains(model) else { throw ValidationError("--model is mlp or softmax") }
        guard privacy == "none" || ClientPrivacy.Mode(rawValue: privacy) != nil else {
            throw ValidationError("--privacy is distributed, local, central or none")
        }
        guard noiseMultiplier >= 0, clipNorm > 0 else { throw ValidationError("--noise-multiplier must be >= 0 and --clip-norm > 0") }
        if homomorphic && (mode != .rounds || agents < 2) {
            throw ValidationError("--homomorphic runs rounds (not --mode asynchronous) of at least 2 agents")
        }
        if let buffer, mode != .asynchronous || !(1...agents).contains(buffer) {
            throw ValidationError("--buffer is for --mode asynchronous, within 1...--agents")
        }
    }

    func run() async throws {
        let started = ContinuousClock.now
        let work = workDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-demo-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let bufferSize = mode == .asynchronous ? (buffer ?? max(1, agents / 2)) : nil
        let privacySettings = ClientPrivacy.Mode(rawValue: privacy).map {
            ClientPrivacy(mode: $0, clipNorm: clipNorm, noiseMultiplier: noiseMultiplier, expectedCohort: bufferSize ?? agents)
        }
        let setup = try DemoSetup(
            data: DemoSetup.dataPath(dataset), model: model, partition: partition, agents: agents, rounds: rounds, seed: seed, work: work,
            privacy: privacySettings, asynchronousBuffer: bufferSize, homomorphic: homomorphic)

        var privateBroker: LocalBroker?
        let (host, port): (String, Int)
        if let broker {
            guard let address = HostPort(broker) else { throw ValidationError("--broker must be HOST:PORT") }
            (host, port) = (address.host, address.port)
        } else {
            let local = try await LocalBroker()
            privateBroker = local
            (host, port) = ("127.0.0.1", local.port)
        }
        let processes = DemoProcesses()
        let topics = try Topics(job: DemoSetup.job)
        let schedule =
            bufferSize.map { "\(rounds) versions from buffers of \($0) updates (asynchronous)" }
            ?? "\(rounds) rounds\(homomorphic ? " of Paillier-encrypted updates (a key holder decrypts each round's sum)" : "")"
        print("FedMQ demo: \(agents) agents, \(schedule), \(dataset) split \(partition), \(model) model; broker \(host):\(port)")
        if let privacySettings {
            print(
                "Differential privacy: \(privacySettings.mode.rawValue), clip \(clipNorm), noise multiplier \(noiseMultiplier), delta \(privacySettings.delta)"
            )
        }
        print("Watch from another terminal:")
        print("  mosquitto_sub -h \(host) -p \(port) -v -t '\(topics.metrics)' -t '\(topics.globalRound)' -t '\(topics.allStatuses)'")
        print("Logs, data splits and state: \(work)\n")
        print(bufferSize == nil ? "round  agents  rejected  accuracy  loss     epsilon  bytes     time" : Self.asynchronousHeader)

        var collected: [RoundMetrics] = []
        do {
            let watcher = try MQTTClient(options: ConnectionOptions(host: host, port: port))
            try await watcher.connect()
            let metrics = try await watcher.subscribe(to: [topics.metrics], qos: .atLeastOnce)
            let executables = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            if homomorphic { try processes.start(try setup.keyholderCommand(executables: executables, host: host, port: port)) }
            try processes.start(try setup.aggregatorCommand(executables: executables, host: host, port: port))
            for index in 0..<agents {
                try processes.start(try setup.agentCommand(index, executables: executables, host: host, port: port))
            }
            let interrupted = Task {
                await ShutdownSignal.wait()
                metrics.cancel()
            }
            for await message in metrics {
                guard let round = try? ProtocolJSON.decode(RoundMetrics.self, from: message.payload), !message.retain else { continue }
                collected.append(round)
                print(Self.line(round))
                if round.round >= rounds { break }
            }
            interrupted.cancel()
            await watcher.disconnect()
        } catch {
            await processes.stopAll()
            await privateBroker?.remove()
            throw error
        }
        await processes.stopAll()
        await privateBroker?.remove()
        try DemoReport.csv(collected).write(toFile: out + "/metrics.csv", atomically: true, encoding: .utf8)
        let dp = privacySettings.map { ", \($0.mode.rawValue) DP z=\(noiseMultiplier) C=\(clipNorm)" } ?? ", no DP"
        let title = "FedMQ demo: \(agents) agents, \(dataset) (\(partition)), \(model)\(dp)"
        try DemoReport.svg(collected, title: title).write(toFile: out + "/report.svg", atomically: true, encoding: .utf8)
        let elapsed = ContinuousClock.now - started
        let final = collected.last?.accuracy.map { String(format: "%.4f", $0) } ?? "-"
        if let last = collected.last, let epsilon = last.epsilon, let threat = last.threatModel {
            print(String(format: "\nPrivacy: epsilon %.2f at delta %g, against %@.", epsilon, last.delta ?? 0, threat))
        }
        print(
            "\n\(collected.count) of \(rounds) \(bufferSize == nil ? "rounds" : "versions") in \(String(format: "%.1f", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)) s; final test accuracy \(final); "
                + "\(collected.reduce(0) { $0 + $1.bytesReceived }) update bytes")
        print("Wrote \(out)/metrics.csv and \(out)/report.svg. Every process the demo started has stopped.")
        if collected.count < rounds { throw ExitCode(130) }
    }

    /// The table of an asynchronous job: one line per version, with its buffer's mean staleness.
    static let asynchronousHeader = "  ver  agents  rejected  accuracy  loss     epsilon  bytes     time     staleness"

    static func line(_ metrics: RoundMetrics) -> String {
        let accuracy = metrics.accuracy.map { String(format: "%.4f", $0) } ?? "-"
        let loss = metrics.loss.map { String(format: "%.4f", $0) } ?? "-"
        return String(
            format: "%5d  %6d  %8d  %-8@  %-7@  %-7@  %-8d  %.2f s", metrics.round, metrics.updates,
            metrics.rejected.values.reduce(0, +), accuracy, loss, metrics.epsilon.map { String(format: "%.2f", $0) } ?? "-",
            metrics.bytesReceived, metrics.durationSeconds) + (metrics.staleness.map { String(format: "  %.2f (max %d)", $0.mean, $0.max) } ?? "")
    }
}
