import FedMQCore

/// What agents report besides updates: their retained status (selection, a model they wait
/// for) and their evaluations of the global model.
extension AggregatorStateMachine {
    /// An agent's retained status arrived on `status/<agent>`. With client selection, a round
    /// that has no update yet is drawn again from the agents now online (and republished). An
    /// agent that waits for the current model (it refused what the broker retained, which may
    /// be a forgery or lost in a broker restart) gets it again, at most every
    /// `OnlineAgents.modelRepublishSeconds`.
    public mutating func statusReceived(agent: String, payload: [UInt8], now: Double) -> [AggregatorAction] {
        let (actions, changed) = agents.receive(agent: agent, payload: payload, model: model, modelBytes: modelBytes, now: now)
        guard changed, let selection = policy.selection, !finished, accepted.isEmpty else { return actions }
        let picked = selection.pick(from: agents.candidates, round: announcement.round, minimum: policy.minUpdates)
        guard picked != announcement.selected else { return [] }
        announcement.selected = picked
        announcement.revision = (announcement.revision ?? 0) + 1
        return [.checkpoint(checkpoint(), model: modelBytes), .publishRound(announcement)]
    }

    /// An agent's evaluation arrived on `round/<round>/eval/<agent>`. Only evaluations of the
    /// current global model count (one per agent); they go into the next round's metrics.
    public mutating func receiveEvaluation(agent: String, round: Int, payload: [UInt8]) -> [AggregatorAction] {
        evaluations.accept(agent: agent, round: round, payload: payload, modelRound: model.round, asked: policy.evaluateEvery != nil)
    }
}
