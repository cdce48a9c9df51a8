/// The agents whose retained status says they are connected, as client selection sees them:
/// at most `maxAgents` distinct ids, and only allowed ones are candidates.
struct OnlineAgents: Sendable {
    private(set) var online: Set<String> = []
    let maxAgents: Int
    let allowed: Set<String>?

    /// Records `status`; the reason it was ignored, if it was.
    mutating func record(_ status: AgentStatus) -> String? {
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
