import FedMQCore
import FedMQProtocol
import Testing

@Suite("Federated evaluation")
struct FederatedEvaluationTests {
    var policy: RoundPolicy {
        var policy = Fixture.policy
        policy.evaluateEvery = 1
        return policy
    }

    func evaluation(_ agent: String, round: Int, examples: Int, accuracy: Double, personalized: Double? = nil, job: String = Fixture.job) -> [UInt8] {
        ProtocolJSON.encode(
            AgentEvaluation(
                job: job, agent: agent, round: round, examples: examples, accuracy: accuracy, loss: 1 - accuracy,
                personalizedAccuracy: personalized, personalizedLoss: personalized.map { 1 - $0 }))
    }

    @Test("agents are asked to evaluate each base model once, when the job asks for it")
    func agentEvaluatesOnce() throws {
        let aggregator = Fixture.machine(policy: policy)
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0)
        _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
        let actions = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1001)
        let asked = actions.compactMap { if case .evaluate(let base, _) = $0 { base.round } else { nil } }
        #expect(asked == [0])
        #expect(actions.contains { if case .train = $0 { true } else { false } })
        // The same round again (a reconnect) does not ask twice.
        #expect(
            !agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1002).contains { if case .evaluate = $0 { true } else { false } })
        // Without evaluate_every nobody is asked.
        let plain = Fixture.machine()
        var other = try AgentStateMachine(agent: "a2", job: Fixture.job, lastServedRound: 0)
        _ = other.modelReceived(plain.modelBytes, now: 1001)
        #expect(!other.roundReceived(ProtocolJSON.encode(plain.announcement), now: 1001).contains { if case .evaluate = $0 { true } else { false } })
    }

    @Test("the aggregator combines the evaluations of its current model, weighted by examples, with their spread, in the next metrics")
    func aggregatorCombines() throws {
        var machine = Fixture.machine(policy: policy)
        #expect(machine.receiveEvaluation(agent: "a1", round: 0, payload: evaluation("a1", round: 0, examples: 10, accuracy: 0.5)).isEmpty)
        #expect(
            machine.receiveEvaluation(agent: "a2", round: 0, payload: evaluation("a2", round: 0, examples: 30, accuracy: 0.9, personalized: 0.95))
                .isEmpty)
        // Ignored, each with its reason: a second copy, another round, a mismatched agent, another job, garbage.
        for (agent, round, payload) in [
            ("a2", 0, evaluation("a2", round: 0, examples: 30, accuracy: 0.1)), ("a3", 5, evaluation("a3", round: 5, examples: 5, accuracy: 0.1)),
            ("a3", 0, evaluation("a4", round: 0, examples: 5, accuracy: 0.1)),
            ("a3", 0, evaluation("a3", round: 0, examples: 5, accuracy: 0.1, job: "other")),
            ("a3", 0, Array("{".utf8)),
        ] {
            let ignored = machine.receiveEvaluation(agent: agent, round: round, payload: payload)
            #expect(ignored.count == 1 && { if case .evaluationIgnored = ignored[0] { true } else { false } }())
        }
        _ = machine.receive(agent: "a1", round: 1, payload: Fixture.update(machine, agent: "a1"), now: 1001)
        _ = machine.receive(agent: "a2", round: 1, payload: Fixture.update(machine, agent: "a2"), now: 1001)
        let federated = try #require(
            machine.receive(agent: "a3", round: 1, payload: Fixture.update(machine, agent: "a3"), now: 1002).metrics?.federated)
        #expect(federated.round == 0)
        #expect(federated.agents == 2)
        #expect(federated.examples == 40)
        #expect(abs(try #require(federated.accuracy) - 0.8) < 1e-12)  // (10 * 0.5 + 30 * 0.9) / 40
        #expect(abs(federated.loss - 0.2) < 1e-12)
        #expect(federated.accuracyMin == 0.5 && federated.accuracyMax == 0.9)
        #expect(abs(try #require(federated.accuracyStd) - 0.2) < 1e-12)
        #expect(federated.personalizedAccuracy == 0.95)
        // The next round starts with none.
        let next = [("a1", 1), ("a2", 1), ("a3", 1)].flatMap { agent, _ in
            machine.receive(agent: agent, round: 2, payload: Fixture.update(machine, agent: agent), now: 1003)
        }
        #expect(next.metrics?.federated == nil)
    }

    @Test("a job without federated evaluation ignores evaluations")
    func ignoredWithoutPolicy() {
        var machine = Fixture.machine()
        #expect(
            machine.receiveEvaluation(agent: "a1", round: 0, payload: evaluation("a1", round: 0, examples: 10, accuracy: 0.5))
                == [.evaluationIgnored(agent: "a1", round: 0, reason: "this job has no federated evaluation")])
    }
}
