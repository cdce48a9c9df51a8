import FedMQCore

/// What agents report besides updates: their retained status (selection, a model they wait
/// for) and their evaluations of the global model.
extension AggregatorStateMachine {
    /// An agent's retained status arrived on `status/<agent>`. With client selection, a round
    /// that has no update yet is drawn again from the agents now online (and republished). An
    /// agent that waits for the current model (it refused what the broker retained, which may
    /// be a forgery or lost in a broker restart) gets it again, at most every
    /// `modelRepublishSeconds`.
    public mutating func statusReceived(agent: String, payload: [UInt8], now: Double) -> [AggregatorAction] {
        guard let status = try? ProtocolJSON.decode(AgentStatus.self, from: payload), status.agent == agent else { return [] }
        if status.waitingForModel == model.sha256, now >= lastModelRepublish + Self.modelRepublishSeconds {
            lastModelRepublish = now
            return [.publishModel(modelBytes)]
        }
        if let reason = agents.record(status) { return [.statusIgnored(agent: agent, reason: reason)] }
        guard let selection = policy.selection, !finished, accepted.isEmpty else { return [] }
        let picked = selection.pick(from: agents.candidates, round: announcement.round, minimum: policy.minUpdates)
        guard picked != announcement.selected else { return [] }
        announcement.selected = picked
        announcement.revision = (announcement.revision ?? 0) + 1
        return [.checkpoint(checkpoint(), model: modelBytes), .publishRound(announcement)]
    }

    /// An agent's evaluation arrived on `round/<round>/eval/<agent>`. Only evaluations of the
    /// current global model count (one per agent); they go into the next round's metrics.
    public mutating func receiveEvaluation(agent: String, round: Int, payload: [UInt8]) -> [AggregatorAction] {
        let reason =
            policy.evaluateEvery == nil
            ? "this job has no federated evaluation" : evaluations.receive(agent: agent, round: round, payload: payload, modelRound: model.round)
        return reason.map { [.evaluationIgnored(agent: agent, round: round, reason: $0)] } ?? []
    }
}
