import ArgumentParser
import FedMQCommandLine
import FedMQRuntime
import Foundation

/// `fedmq simulate`: load-test a broker and aggregator with N agents in one process.
public struct SimulateCommand: AsyncParsableCommand {
    /// Made by swift-argument-parser when `fedmq simulate` is parsed.
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run N agents in this process (one MQTT connection each, training a no-op) against a real aggregator.",
        discussion: """
            Starts a private mosquitto (or uses --broker), connects the agents, then starts fedmq-aggregator with a
            softmax model of INPUTS x OUTPUTS parameters and waits for every round. Prints each round's latency (from
            the round opening to its model being published, as a subscriber sees them), the percentiles, whether every
            update counted, and the aggregator's memory against the model's size.
            """
    )

    @Option(help: "Agents (MQTT connections) in this process.") var agents = 100
    @Option(help: "Rounds.") var rounds = 20
    @Option(help: "Model inputs (softmax regression).") var inputs = 100
    @Option(help: "Model outputs.") var outputs = 100
    @Option(help: "Use this broker (HOST:PORT) instead of a private one.") var broker: String?
    @Option(name: .customLong("work-dir"), help: "Where configs, state and logs go (default: a new temporary folder).")
    var workDirectory: String?

    /// Refuses agent, round and model sizes outside what one process can simulate.
    public func validate() throws {
        guard (1...2000).contains(agents), (1...10_000).contains(rounds) else {
            throw ValidationError("--agents must be within 1...2000 and --rounds within 1...10000")
        }
        guard inputs >= 1, outputs >= 2, inputs * outputs <= 50_000_000 else {
            throw ValidationError("--inputs and --outputs give a model of 2 to 50M weights")
        }
        if let broker, HostPort(broker) == nil { throw ValidationError("--broker must be HOST:PORT") }
    }

    /// Runs the simulation and prints each round and the summary; exits 1 if an update went missing.
    public func run() async throws {
        var simulation = SimulationRun(agents: agents, rounds: rounds, inputs: inputs, outputs: outputs)
        simulation.broker = broker.flatMap(HostPort.init).map { ($0.host, $0.port) }
        let work = workDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-simulate-\(UUID().uuidString)").path
        print("Simulating \(agents) agents x \(rounds) rounds, model \(inputs) x \(outputs); work directory \(work)")
        let outcome = try await simulation.run(work: work, executables: URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()) {
            round, seconds, rss in
            print(String(format: "round %4d  %8.1f ms  aggregator RSS %.1f MiB", round, seconds * 1000, Double(rss) / 1_048_576))
        }
        print(Self.summary(outcome))
        if outcome.updatesPerRound.reduce(0, +) != outcome.expectedUpdates || outcome.rejected > 0 { throw ExitCode(1) }
    }

    static func summary(_ outcome: SimulationRun.Outcome) -> String {
        let mib = { (bytes: Int) in String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        return [
            String(
                format: "latency p50 %.1f ms, p95 %.1f ms, p99 %.1f ms", outcome.percentile(0.5) * 1000, outcome.percentile(0.95) * 1000,
                outcome.percentile(0.99) * 1000),
            "updates counted \(outcome.updatesPerRound.reduce(0, +)) of \(outcome.expectedUpdates), rejected \(outcome.rejected)",
            "aggregator RSS after round 1 \(mib(outcome.aggregatorRSS.first ?? 0)), after the last \(mib(outcome.aggregatorRSS.last ?? 0)), "
                + "peak \(mib(outcome.aggregatorPeakRSS)) (model \(outcome.modelBytes) bytes)",
        ].joined(separator: "\n")
    }
}
