import FedMQCore
import FedMQProtocol
import Testing

@Suite("Differential privacy in rounds")
struct PrivacyRoundTests {
    func policy(_ mode: ClientPrivacy.Mode) -> RoundPolicy {
        var policy = Fixture.policy
        policy.weighting = .uniform
        policy.privacy = ClientPrivacy(mode: mode, clipNorm: 1, noiseMultiplier: 1, expectedCohort: 3)
        return policy
    }

    @Test("central mode: the aggregator adds noise and reports epsilon for the published model with its threat model")
    func central() throws {
        var machine = try AggregatorStateMachine(
            job: Fixture.job, policy: policy(.central), spec: Fixture.spec, initial: Fixture.initial, now: 1000,
            random: SplitMix64(seed: 1))
        var metrics: [RoundMetrics] = []
        for round in 1...2 {
            for agent in ["a1", "a2", "a3"] {
                let payload = Fixture.update(machine, agent: agent, value: 0.1)
                metrics += machine.receive(agent: agent, round: round, payload: payload, now: 1001).compactMap {
                    if case .publishMetrics(let m) = $0 { m } else { nil }
                }
            }
        }
        var expected = RDPAccountant()
        try expected.compose(.gaussian(noiseMultiplier: 1), count: 2)
        #expect(metrics.count == 2)
        #expect(abs((metrics[1].epsilon ?? 0) - expected.epsilon(delta: 1e-5).epsilon) < 1e-9)
        #expect(metrics[1].delta == 1e-5)
        #expect(metrics[1].threatModel?.contains("aggregator sees clipped updates") == true)
        // Noise: the model is not the plain mean (0.1 per round, 0.2 in all).
        #expect(machine.model.parameters.tensors.contains { $0.values.contains { abs($0 - 0.2) > 1e-3 } })
    }

    @Test("accountant pld: the published model's epsilon is the exact one of its Gaussian releases, below RDP's, and metrics say which")
    func exactAccountant() throws {
        var policy = policy(.central)
        policy.privacy?.accountant = .pld
        var machine = try AggregatorStateMachine(
            job: Fixture.job, policy: policy, spec: Fixture.spec, initial: Fixture.initial, now: 1000, random: SplitMix64(seed: 1))
        var metrics: [RoundMetrics] = []
        for round in 1...3 {
            for agent in ["a1", "a2", "a3"] {
                metrics += machine.receive(agent: agent, round: round, payload: Fixture.update(machine, agent: agent, value: 0.1), now: 1001)
                    .compactMap { if case .publishMetrics(let m) = $0 { m } else { nil } }
            }
        }
        // Three releases of multiplier 1 are one Gaussian mechanism of multiplier 1/√3.
        let exact = AnalyticGaussian.epsilon(delta: 1e-5, sigma: 1 / 3.0.squareRoot())
        var rdp = RDPAccountant()
        try rdp.compose(.gaussian(noiseMultiplier: 1), count: 3)
        #expect(metrics.map(\.accountant) == ["pld", "pld", "pld"])
        #expect(abs((metrics[2].epsilon ?? 0) - exact) < 1e-9 * exact, "\(metrics[2].epsilon ?? 0) vs \(exact)")
        #expect(exact < rdp.epsilon(delta: 1e-5).epsilon)
        // Without the option the same job reports RDP's bound, and says so.
        var plain = try AggregatorStateMachine(
            job: Fixture.job, policy: self.policy(.central), spec: Fixture.spec, initial: Fixture.initial, now: 1000, random: SplitMix64(seed: 1))
        let first = ["a1", "a2", "a3"].flatMap {
            plain.receive(agent: $0, round: 1, payload: Fixture.update(plain, agent: $0, value: 0.1), now: 1001)
        }
        #expect(first.metrics?.accountant == "rdp")
    }

    @Test("distributed mode: agents clip and noise on the device; the update validates; the ledger records it")
    func distributedAgent() throws {
        let aggregator = try AggregatorStateMachine(
            job: Fixture.job, policy: policy(.distributed), spec: Fixture.spec, initial: Fixture.initial, now: 1000)
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0, random: SplitMix64(seed: 2))
        _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
        _ = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1001)
        var trained = Fixture.initial
        try trained.add(Fixture.delta(5))
        let actions = agent.trainingFinished(round: 1, trained: trained, examples: 7, now: 1002)
        let event = DPEvent.gaussian(noiseMultiplier: 1 / 3.0.squareRoot())
        #expect({ if case .recordServed(1, event, _, nil) = actions.first { true } else { false } }())
        #expect(agent.ledger == [event])
        guard case .publishUpdate(_, let payload, _, _) = actions[1] else {
            Issue.record("no publish in \(actions)")
            return
        }
        var machine = aggregator
        #expect(machine.receive(agent: "a1", round: 1, payload: payload, now: 1003).spooled == 1)
        let status = agent.status(now: 1003)
        #expect(abs((status.epsilonSpent ?? 0) - PrivacyLedger.epsilon(of: [event], delta: 1e-5)) < 1e-12)
        // A poisoned update far beyond clipping plus noise is refused.
        #expect(
            machine.receive(agent: "a2", round: 1, payload: Fixture.update(machine, agent: "a2", value: 50), now: 1004).rejections == [.normTooLarge])
    }

    @Test("an agent refuses the round that would exceed its budget and says so in its status")
    func budget() throws {
        var aggregator = try AggregatorStateMachine(
            job: Fixture.job, policy: policy(.local), spec: Fixture.spec, initial: Fixture.initial, now: 1000)
        let perRound = PrivacyLedger.epsilon(of: [.gaussian(noiseMultiplier: 1)], delta: 1e-5)
        let twoRounds = PrivacyLedger.epsilon(of: [.gaussian(noiseMultiplier: 1), .gaussian(noiseMultiplier: 1)], delta: 1e-5)
        var agent = try AgentStateMachine(
            agent: "a1", job: Fixture.job, lastServedRound: 1, ledger: [.gaussian(noiseMultiplier: 1)],
            budget: PrivacyBudget(epsilon: (perRound + twoRounds) / 2, delta: 1e-5))
        for name in ["a2", "a3", "a4"] {
            _ = aggregator.receive(agent: name, round: 1, payload: Fixture.update(aggregator, agent: name, value: 0.01), now: 1001)
        }
        _ = agent.modelReceived(aggregator.modelBytes, now: 1002)
        let actions = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1002)
        #expect(!actions.contains { if case .train = $0 { true } else { false } })
        #expect(actions.contains { if case .publishStatus(let s) = $0 { s.state == .budgetExhausted } else { false } })
        #expect(agent.status(now: 1003).state == .budgetExhausted)
    }

    @Test("privacy needs uniform weighting")
    func weighting() {
        var bad = policy(.central)
        bad.weighting = .examples
        #expect(throws: ProtocolError.self) { try bad.validate() }
    }
}

@Suite("Agent ledger with DP-SGD")
struct DPSGDLedgerTests {
    @Test("a round with DP-SGD and client-level noise charges both to the agent's ledger")
    func bothMechanisms() throws {
        var policy = Fixture.policy
        policy.weighting = .uniform
        policy.privacy = ClientPrivacy(mode: .local, clipNorm: 1, noiseMultiplier: 2)
        policy.training.dpSGD = DPSGDConfig(clipNorm: 1, noiseMultiplier: 1.1, samplingRate: 0.5)
        let aggregator = try AggregatorStateMachine(job: Fixture.job, policy: policy, spec: Fixture.spec, initial: Fixture.initial, now: 1000)
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0, random: SplitMix64(seed: 1))
        _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
        _ = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1001)
        let actions = agent.trainingFinished(round: 1, trained: Fixture.initial, examples: 4, now: 1002)
        let expected = DPEvent.composed([
            .selfComposed(event: .poissonSampled(probability: 0.5, event: .gaussian(noiseMultiplier: 1.1)), count: 2),
            .gaussian(noiseMultiplier: 2),
        ])
        #expect({ if case .recordServed(1, expected, _, nil) = actions.first { true } else { false } }())
        #expect(agent.ledger == [expected])
    }

    @Test("a ledger grows with the mechanisms a job ran, not its rounds, and its epsilon is that of every round charged apart")
    func compactLedger() {
        let dpSGD = DPEvent.composed([
            .selfComposed(event: .poissonSampled(probability: 0.01, event: .gaussian(noiseMultiplier: 1.1)), count: 300),
            .gaussian(noiseMultiplier: 2),
        ])
        let plain = DPEvent.gaussian(noiseMultiplier: 3)
        let rounds = Array(repeating: dpSGD, count: 200) + [plain] + Array(repeating: dpSGD, count: 50) + Array(repeating: plain, count: 7)
        let ledger = rounds.reduce([DPEvent]()) { PrivacyLedger.charging($1, to: $0) }
        #expect(
            ledger == [
                .selfComposed(event: dpSGD, count: 200), plain, .selfComposed(event: dpSGD, count: 50), .selfComposed(event: plain, count: 7),
            ])
        for delta in [1e-5, 1e-8] {
            let apart = PrivacyLedger.epsilon(of: rounds, delta: delta)
            #expect(abs(PrivacyLedger.epsilon(of: ledger, delta: delta) - apart) <= 1e-9 * apart, "delta \(delta)")
        }
        // A single round stays as it was charged.
        #expect(PrivacyLedger.charging(plain, to: []) == [plain])
    }
}
