import FedMQCore

/// An agent publishes its status every round: written by hand, keys in sorted order.
extension AgentStatus: HandWrittenJSON {
    /// The status's JSON; nil for a number `JSONEncoder` would refuse (left to it).
    public func writtenJSON() -> [UInt8]? {
        var writer = JSONWriter()
        var finite = true
        writer.object { json in
            json.member("agent", agent)
            finite = json.member("delta", delta) && json.member("epsilon_spent", epsilonSpent)
            json.member("last_error", lastError)
            json.member("last_round", lastRound)
            json.member("schema", schema)
            json.member("state", state.rawValue)
            finite = finite && json.member("time", time)
            json.member("waiting_for_model", waitingForModel)
        }
        return finite ? writer.bytes : nil
    }
}
