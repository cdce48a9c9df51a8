/// The agents whose retained status says they are connected, as client selection sees them:
/// at most `maxAgents` distinct ids, and only allowed ones are candidates. Every job mode hands
/// it the statuses that arrive.
struct OnlineAgents: Sendable {
    private(set) var online: Set<String> = []
    let maxAgents: Int
    let allowed: Set<String>?
    /// When the model was last published again for an agent waiting for it.
    private var lastModelRepublish = -Double.infinity
    static let modelRepublishSeconds = 5.0

    init(maxAgents: Int, allowed: Set<String>?) {
        self.maxAgents = maxAgents
        self.allowed = allowed
    }

    /// An agent's retained status arrived on `status/<agent>`. An agent that waits for the
    /// current model (it refused what the broker retained, which may be a forgery or lost in a
    /// broker restart) gets it again, at most every `modelRepublishSeconds`; any other status
    /// is recorded. `changed` says whether the online agents changed: an agent's statuses
    /// within a round (training, then idle) leave them as they were, and client selection need
    /// not draw again for them.
    mutating func receive(
        agent: String, payload: [UInt8], model: GlobalModel, modelBytes: [UInt8], now: Double
    ) -> (actions: [AggregatorAction], changed: Bool) {
        guard let status = try? ProtocolJSON.decode(AgentStatus.self, from: payload), status.agent == agent else { return ([], false) }
        if status.waitingForModel == model.sha256, now >= lastModelRepublish + Self.modelRepublishSeconds {
            lastModelRepublish = now
            return ([.publishModel(modelBytes)], false)
        }
        switch record(status) {
        case .failure(let ignored): return ([.statusIgnored(agent: agent, reason: ignored.reason)], false)
        case .success(let changed): return ([], changed)
        }
    }

    /// Records an agent's decoded status without serving a model (a site aggregator): nil, or
    /// why it was ignored.
    mutating func track(_ status: AgentStatus) -> String? {
        if case .failure(let ignored) = record(status) { return ignored.reason }
        return nil
    }

    private struct Ignored: Error {
        var reason: String
    }

    /// Records `status`: whether the online agents changed, or why it was ignored.
    private mutating func record(_ status: AgentStatus) -> Result<Bool, Ignored> {
        if status.state == .offline { return .success(online.remove(status.agent) != nil) }
        if online.contains(status.agent) { return .success(false) }
        guard online.count < maxAgents else { return .failure(Ignored(reason: "already tracking max_agents (\(maxAgents)) agents")) }
        online.insert(status.agent)
        return .success(true)
    }

    /// Online agents that may be selected.
    var candidates: Set<String> {
        allowed.map { online.intersection($0) } ?? online
    }
}
