import ArgumentParser
import FedMQCommandLine
import FedMQProtocol
import Foundation

/// `fedmq status`: one screen on a job, from what the broker retains: the aggregator, the
/// open round, the last closed round with its privacy, and every agent.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a job's progress, agents and privacy in one screen (or as JSON).",
        discussion: "Reads the job's retained messages once and exits; exit status 1 if the broker holds nothing of the job."
    )

    @OptionGroup var broker: BrokerOptions
    @Option(help: "Job id.") var job: String
    @Flag(help: "Print one JSON object: the retained messages as they are, by kind.") var json = false

    func run() async throws {
        let topics = try Topics(job: job)
        guard
            let retained = try await RetainedState.read(
                [topics.aggregatorStatus, topics.keyholderStatus, topics.globalRound, topics.metrics, topics.allStatuses], broker: broker)
        else { throw CommandFailure("the broker at \(broker.host):\(broker.port) does not let this user read job '\(job)'") }
        var state = JobState(topics: topics)
        var known = false
        for (topic, message) in retained { known = state.receive(topic: topic, payload: message.payload) || known }
        guard known else {
            throw CommandFailure("job '\(job)' has nothing retained on \(broker.host):\(broker.port) (is the job name right?)")
        }
        print(json ? try state.statusJSON() : state.statusText())
    }
}

/// `fedmq status`'s two forms of a job's state.
extension JobState {
    func statusText() -> String {
        var lines = ["job \(topics.job)"]
        if let aggregator {
            lines.append("aggregator: \(aggregator.state.rawValue)")
        } else {
            lines.append("aggregator: no status retained")
        }
        if let keyholder {
            var line = "key holder: \(keyholder.state.rawValue)"
            if let key = keyholder.keySHA256 { line += ", key \(key.prefix(16))" }
            if let minimum = keyholder.minUpdates { line += ", decrypts sums of at least \(minimum)" }
            if let last = keyholder.lastRound { line += ", last decrypted round \(last)" }
            lines.append(line)
        } else if round?.homomorphic != nil {
            lines.append("key holder: no status retained (is fedmq-keyholder running?)")
        }
        if let round {
            let of = round.rounds.map { "/\($0)" } ?? ""
            let finished = aggregator?.state == .finished
            let rules =
                round.asynchronous.map {
                    "asynchronous, buffer of \(round.targetUpdates) updates on versions up to \($0.maxStaleness) old"
                }
                ?? "target \(round.targetUpdates), quorum \(round.minUpdates)\(round.extensions > 0 ? ", deadline extended \(round.extensions)x" : "")"
            lines.append("round \(round.round)\(of)\(finished ? " (the last; the job is finished)" : " open"): \(rules)")
        }
        if let metrics = lastRound {
            var closed = "last closed: round \(metrics.round), \(metrics.updates) updates, rejected \(PayloadDescription.describe(metrics.rejected))"
            if let accuracy = metrics.accuracy { closed += String(format: ", accuracy %.4f", accuracy) }
            if let staleness = metrics.staleness { closed += String(format: ", staleness mean %.2f max %d", staleness.mean, staleness.max) }
            if let failure = metrics.failure { closed += "; failed: \(failure)" }
            lines.append(closed)
            if let epsilon = metrics.epsilon, let delta = metrics.delta {
                lines.append(
                    String(format: "privacy: epsilon %.3f at delta %g", epsilon, delta) + (metrics.accountant.map { " (\($0))" } ?? "")
                        + (metrics.threatModel.map { " against \($0)" } ?? ""))
            }
            for answer in metrics.analytics ?? [] { lines.append("analytics: \(answer)") }
        }
        let agents = self.agents.keys.sorted().compactMap { self.agents[$0] }
        let states = Dictionary(grouping: agents, by: \.state.rawValue).mapValues(\.count)
        lines.append(
            "agents: \(agents.count)"
                + (states.isEmpty ? "" : " (" + states.keys.sorted().map { "\($0) \(states[$0] ?? 0)" }.joined(separator: ", ") + ")"))
        for agent in agents {
            var line = "  \(agent.agent): \(agent.state.rawValue), last round \(agent.lastRound)"
            if let spent = agent.epsilonSpent { line += String(format: ", epsilon spent %.3f", spent) }
            if let error = agent.lastError { line += "; last error: \(error)" }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// `{"aggregator": …, "keyholder": …, "round": …, "last_round": …, "agents": […]}`, each in its own schema.
    func statusJSON() throws -> String {
        func object(_ payload: [UInt8]?) throws -> Any { try payload.map { try JSONSerialization.jsonObject(with: Data($0)) } ?? NSNull() }
        let document: [String: Any] = [
            "aggregator": try object(aggregator.map(ProtocolJSON.encode)),
            "keyholder": try object(keyholder.map(ProtocolJSON.encode)),
            "round": try object(round.map(ProtocolJSON.encode)),
            "last_round": try object(lastRound.map(ProtocolJSON.encode)),
            "agents": try agents.keys.sorted().compactMap { agents[$0] }.map { try object(ProtocolJSON.encode($0)) },
        ]
        let data = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}
