import FedMQCore

/// An agent publishes its status every round: written by hand, keys in sorted order.
extension AgentStatus: HandWrittenJSON {
    /// The status's JSON; nil for a number `JSONEncoder` would refuse (left to it).
    public func writtenJSON() -> [UInt8]? {
        var writer = JSONWriter()
        var finite = true
        writer.object { json in
            json.key("agent")
            json.string(agent)
            if let delta {
                json.key("delta")
                finite = finite && json.double(delta)
            }
            if let epsilonSpent {
                json.key("epsilon_spent")
                finite = finite && json.double(epsilonSpent)
            }
            if let lastError {
                json.key("last_error")
                json.string(lastError)
            }
            json.key("last_round")
            json.integer(lastRound)
            json.key("schema")
            json.string(schema)
            json.key("state")
            json.string(state.rawValue)
            if let time {
                json.key("time")
                finite = finite && json.double(time)
            }
            if let waitingForModel {
                json.key("waiting_for_model")
                json.string(waitingForModel)
            }
        }
        return finite ? writer.bytes : nil
    }
}
