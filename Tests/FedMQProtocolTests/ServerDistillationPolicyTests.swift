import FedMQCore
import FedMQProtocol
import Testing

@Suite("Server-side distillation in a job's policy")
struct ServerDistillationPolicyTests {
    @Test("combinations that would hide the client models, or whose privacy would not hold, are refused by name")
    func refusals() throws {
        func policy(_ change: (inout RoundPolicy) -> Void) -> RoundPolicy {
            var policy = Fixture.policy
            policy.serverDistillation = ServerDistillation()
            change(&policy)
            return policy
        }
        let refusals: [(String, (inout RoundPolicy) -> Void)] = [
            (
                "under secure aggregation",
                { $0.secureAggregation = SecureAggregationSettings(quantization: SecAggQuantization(clip: 1, scale: 1024)) }
            ),
            ("with client-level privacy", { $0.privacy = ClientPrivacy(mode: .local, clipNorm: 1, noiseMultiplier: 1) }),
            ("with client-level privacy", { $0.privacy = ClientPrivacy(mode: .central, clipNorm: 1, noiseMultiplier: 1) }),
            ("with strategy 'median'", { $0.strategy = StrategyConfig(name: "median") }),
            ("in mode 'asynchronous'", { $0.mode = .asynchronous }),
            ("temperature must be within", { $0.serverDistillation?.temperature = 0 }),
        ]
        for (reason, change) in refusals {
            #expect {
                try policy(change).validate()
            } throws: { "\($0)".contains(reason) }
        }
        try policy { _ in }.validate()
        #expect {
            try AggregatorStateMachine(job: Fixture.job, policy: policy { _ in }, spec: Fixture.spec, initial: Fixture.initial, now: 1000)
        } throws: { "\($0)".contains("server_distillation needs the aggregator's public_csv") }
        let publicRows = try Dataset(features: [Float](repeating: 0.5, count: 30), targets: [Float](repeating: 0, count: 10), featureCount: 3)
        var machine = try AggregatorStateMachine(
            job: Fixture.job, policy: policy { _ in }, spec: Fixture.spec, initial: Fixture.initial, now: 1000, publicData: publicRows)
        for agent in ["a1", "a2", "a3"] { _ = machine.receive(agent: agent, round: 1, payload: Fixture.update(machine, agent: agent), now: 1001) }
        #expect(machine.announcement.round == 2 && machine.model.round == 1)
    }
}
