import ArgumentParser
import FedMQAgent
import FedMQCommandLine
import FedMQRuntime
import Foundation
import Logging

/// `fedmq simulate-agents` (hidden): one worker process of `fedmq simulate`, running agents
/// `sim-FIRST` ... with training switched to a no-op until it is stopped.
///
/// Each agent holds its own network thread and four descriptors (its socket, libmosquitto's
/// wake-up pair and the client's eventfd), so one process runs a few hundred agents; a fleet
/// of thousands is several such processes.
public struct SimulatedAgentsCommand: AsyncParsableCommand {
    /// Made by swift-argument-parser when `fedmq simulate-agents` is parsed.
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "simulate-agents", abstract: "One worker process of fedmq simulate (started by it).", shouldDisplay: false)

    @Option(help: "The broker these agents connect to (HOST:PORT).") var broker: String
    @Option(help: "Index of the first agent (agents are named sim-INDEX).") var first: Int
    @Option(help: "How many agents.") var count: Int
    @Option(help: "The CSV every agent trains on (a no-op).") var data: String
    @Option(name: .customLong("state-directory"), help: "Where each agent's folder goes.") var stateDirectory: String

    /// The most agents one worker runs: 300 network threads and 1,200 descriptors.
    static let maximumAgents = 300

    /// Refuses a broker that is not HOST:PORT and more agents than one process can run.
    public func validate() throws {
        guard HostPort(broker) != nil else { throw ValidationError("--broker must be HOST:PORT") }
        guard first >= 0, (1...Self.maximumAgents).contains(count) else {
            throw ValidationError("--first must be >= 0 and --count within 1...\(Self.maximumAgents)")
        }
    }

    /// Runs the agents until the process is stopped; an agent that fails ends the worker with its error.
    public func run() async throws {
        ProcessUsage.raiseFileLimit()
        guard let endpoint = HostPort(broker) else { throw ValidationError("--broker must be HOST:PORT") }
        let logger = Logger(label: "fedmq.simulate-agents") { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in first..<(first + count) {
                var config = AgentConfig(
                    agent: "sim-\(index)", job: SimulationRun.job, dataCSV: data, stateDirectory: "\(stateDirectory)/sim-\(index)")
                config.broker = BrokerSettings(host: endpoint.host, port: endpoint.port)
                config.seed = UInt64(index)
                group.addTask {
                    try await AgentRuntime(config: config, logger: logger, training: { base, _, _, _ in .success(base.parameters) }).run()
                }
            }
            try await group.waitForAll()
        }
    }
}
