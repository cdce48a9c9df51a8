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
    /// is recorded. `recorded` says whether the online agents may have changed.
    mutating func receive(
        agent: String, payload: [UInt8], model: GlobalModel, modelBytes: [UInt8], now: Double
    ) -> (actions: [AggregatorAction], recorded: Bool) {
        guard let status = try? ProtocolJSON.decode(AgentStatus.self, from: payload), status.agent == agent else { return ([], false) }
        if status.waitingForModel == model.sha256, now >= lastModelRepublish + Self.modelRepublishSeconds {
            lastModelRepublish = now
            return ([.publishModel(modelBytes)], false)
        }
        if let reason = record(status) { return ([.statusIgnored(agent: agent, reason: reason)], false) }
        return ([], true)
    }

    /// Records `status`; the reason it was ignored, if it was.
    private mutating func record(_ status: AgentStatus) -> String? {
        if status.state == .offline {
            online.remove(status.agent)
        } else if online.count >= maxAgents && !online.contains(status.agent) {
            return "already tracking max_agents (\(maxAgents)) agents"
        } else {
            online.insert(status.agent)
        }
        return nil
    }

    /// Online agents that may be selected.
    var candidates: Set<String> {
        allowed.map { online.intersection($0) } ?? online
    }
}
