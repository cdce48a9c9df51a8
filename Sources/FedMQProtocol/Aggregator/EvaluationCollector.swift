/// Agents' evaluations of the current global model (federated evaluation): one per agent,
/// only of that model, handed over with the next round's metrics.
struct EvaluationCollector: Sendable {
    let job: String
    private var evaluations: [String: AgentEvaluation] = [:]

    init(job: String) {
        self.job = job
    }

    /// The evaluation `agent` sent on `round/<round>/eval/<agent>`, kept when the job `asked` for
    /// federated evaluation; an action saying why it was ignored otherwise.
    mutating func accept(agent: String, round: Int, payload: [UInt8], modelRound: Int, asked: Bool) -> [AggregatorAction] {
        let reason = asked ? receive(agent: agent, round: round, payload: payload, modelRound: modelRound) : "this job has no federated evaluation"
        return reason.map { [.evaluationIgnored(agent: agent, round: round, reason: $0)] } ?? []
    }

    /// Keeps the evaluation `agent` sent on `round/<round>/eval/<agent>`; the reason it was
    /// ignored, if it was. `modelRound` is the round of the current global model.
    mutating func receive(agent: String, round: Int, payload: [UInt8], modelRound: Int) -> String? {
        let evaluation: AgentEvaluation
        do {
            evaluation = try ProtocolJSON.decode(AgentEvaluation.self, from: payload)
        } catch {
            return "\(error)"
        }
        guard evaluation.job == job, evaluation.agent == agent, evaluation.round == round else {
            return "job, agent or round differ from the topic"
        }
        guard round == modelRound else { return "round \(round) is not the current model's (\(modelRound))" }
        guard evaluations[agent] == nil else { return "this agent's evaluation of round \(round) is already in" }
        evaluations[agent] = evaluation
        return nil
    }

    /// The evaluations of the model of `modelRound` so far, sorted by agent (nil without any),
    /// with an autoencoder's anomaly threshold at `anomalyQuantile`; starts over.
    mutating func take(modelRound: Int, anomalyQuantile: Double? = nil) -> FederatedEvaluation? {
        defer { evaluations = [:] }
        return FederatedEvaluation(
            round: modelRound, evaluations: evaluations.keys.sorted().compactMap { evaluations[$0] }, anomalyQuantile: anomalyQuantile)
    }
}
