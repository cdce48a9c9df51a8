import FedMQProtocol
import Foundation

/// A job as its MQTT messages tell it, folded: every round closed while the tool watched (and
/// the retained last one), the open round, and the aggregator's and every agent's state. What
/// `fedmq status` prints and `fedmq dashboard` draws.
struct JobState {
    let topics: Topics
    private(set) var history: [Int: RoundMetrics] = [:]
    private(set) var round: RoundAnnouncement?
    private(set) var aggregator: AggregatorStatus?
    /// A homomorphic job's key holder, when it said anything.
    private(set) var keyholder: KeyholderStatus?
    private(set) var agents: [String: AgentStatus] = [:]
    /// Agents tracked at most (statuses of more distinct ids are ignored): the page stays small.
    static let maxAgents = 10_000

    init(topics: Topics) {
        self.topics = topics
    }

    /// The last round closed, if any.
    var lastRound: RoundMetrics? { history.keys.max().flatMap { history[$0] } }

    /// Takes one message of the job; false if it changed nothing (another topic, or a payload
    /// that does not decode).
    mutating func receive(topic: String, payload: [UInt8]) -> Bool {
        switch try? topics.parse(topic) {
        case .metrics:
            guard let metrics = try? ProtocolJSON.decode(RoundMetrics.self, from: payload) else { return false }
            history[metrics.round] = metrics
        case .globalRound:
            guard let announcement = try? ProtocolJSON.decode(RoundAnnouncement.self, from: payload) else { return false }
            round = announcement
        case .aggregatorStatus:
            guard let status = try? ProtocolJSON.decode(AggregatorStatus.self, from: payload) else { return false }
            aggregator = status
        case .keyholderStatus:
            guard let status = try? ProtocolJSON.decode(KeyholderStatus.self, from: payload) else { return false }
            keyholder = status
        case .status(let agent):
            guard let status = try? ProtocolJSON.decode(AgentStatus.self, from: payload), status.agent == agent,
                agents[agent] != nil || agents.count < Self.maxAgents
            else { return false }
            agents[agent] = status
        default:
            return false
        }
        return true
    }

    /// The snapshot the dashboard's page renders (JSON).
    func dashboardSnapshot() -> [UInt8] {
        let rounds = history.keys.sorted().compactMap { history[$0] }
        var rejected: [String: Int] = [:]
        for metrics in rounds { rejected.merge(metrics.rejected, uniquingKeysWith: +) }
        let document: [String: Any] = [
            "job": topics.job,
            "aggregator": aggregator?.state.rawValue ?? "unknown",
            "round": round?.round ?? rounds.last?.round ?? 0,
            "rounds": round?.rounds ?? NSNull(),
            "mode": round?.asynchronous == nil ? "rounds" : "asynchronous",
            "history": rounds.map { metrics -> [String: Any] in
                [
                    "round": metrics.round, "updates": metrics.updates, "accuracy": metrics.accuracy ?? NSNull(),
                    "loss": metrics.loss ?? NSNull(), "epsilon": metrics.epsilon ?? NSNull(), "failure": metrics.failure ?? NSNull(),
                    "staleness": metrics.staleness?.mean ?? NSNull(),
                ]
            },
            "rejected": rejected,
            "agents": agents.keys.sorted().compactMap { agents[$0] }.map { status -> [String: Any] in
                [
                    "agent": status.agent, "state": status.state.rawValue, "last_round": status.lastRound,
                    "last_error": status.lastError ?? NSNull(), "epsilon_spent": status.epsilonSpent ?? NSNull(),
                ]
            },
        ]
        return (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])).map(Array.init)
            ?? Array("{}".utf8)
    }
}
