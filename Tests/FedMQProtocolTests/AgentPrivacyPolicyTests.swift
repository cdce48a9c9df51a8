import FedMQCore
import FedMQProtocol
import Testing

/// The aggregator writes the announcements; an agent's owner decides what privacy it needs.
@Suite("An agent's own privacy policy against the announcements")
struct AgentPrivacyPolicyTests {
    func machine(privacy: ClientPrivacy?) throws -> AggregatorStateMachine {
        var policy = Fixture.policy
        policy.weighting = .uniform
        policy.privacy = privacy
        return try AggregatorStateMachine(job: Fixture.job, policy: policy, spec: Fixture.spec, initial: Fixture.initial, now: 1000)
    }

    func trains(_ actions: [AgentAction]) -> Bool {
        actions.contains { if case .train = $0 { true } else { false } }
    }

    func refusal(_ actions: [AgentAction]) -> String? {
        actions.lazy.compactMap { if case .refused(_, let reason) = $0 { reason } else { nil } }.first
    }

    @Test("a budgeted agent refuses a round with privacy: null instead of publishing its raw delta")
    func noPrivacyWithBudget() throws {
        let aggregator = try machine(privacy: nil)
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0, budget: PrivacyBudget(epsilon: 8, delta: 1e-5))
        _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
        let actions = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1001)
        #expect(!trains(actions))
        #expect(refusal(actions)?.contains("no client-level privacy") == true, "\(actions)")
        // Said once: the same round again is only noted.
        #expect(refusal(agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1002)) == nil)
    }

    @Test("modes, the minimum noise multiplier and the largest distributed cohort are the owner's")
    func policyLimits() throws {
        var policy = AgentPrivacyPolicy()
        policy.modes = [.local, .distributed]
        policy.minNoiseMultiplier = 1
        policy.maxExpectedCohort = 100
        let cases: [(ClientPrivacy, Bool)] = [
            (ClientPrivacy(mode: .local, clipNorm: 1, noiseMultiplier: 1.2), true),
            (ClientPrivacy(mode: .central, clipNorm: 1, noiseMultiplier: 2), false),
            (ClientPrivacy(mode: .local, clipNorm: 1, noiseMultiplier: 0.5), false),
            (ClientPrivacy(mode: .distributed, clipNorm: 1, noiseMultiplier: 1, expectedCohort: 100), true),
            (ClientPrivacy(mode: .distributed, clipNorm: 1, noiseMultiplier: 1, expectedCohort: 10_000), false),
        ]
        for (privacy, accepted) in cases {
            let aggregator = try machine(privacy: privacy)
            var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0, privacyPolicy: policy)
            _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
            let actions = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1001)
            #expect(trains(actions) == accepted, "\(privacy)")
            #expect((refusal(actions) == nil) == accepted, "\(privacy)")
        }
        var nan = AgentPrivacyPolicy()
        nan.minNoiseMultiplier = .nan
        #expect(throws: ProtocolError.self) { try nan.validate() }
    }

    @Test("a re-announcement of the open round with privacy: null mid-training changes nothing: the update is noised and charged")
    func reannouncementMidRound() throws {
        let privacy = ClientPrivacy(mode: .local, clipNorm: 0.5, noiseMultiplier: 2)
        let aggregator = try machine(privacy: privacy)
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0, random: SplitMix64(seed: 4))
        _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
        #expect(trains(agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1001)))
        var stripped = aggregator.announcement
        stripped.privacy = nil
        stripped.normBound = nil
        _ = agent.roundReceived(ProtocolJSON.encode(stripped), now: 1002)
        var trained = Fixture.initial
        try trained.add(Fixture.delta(0.001))
        let actions = agent.trainingFinished(round: 1, trained: trained, examples: 4, now: 1003)
        #expect(agent.ledger == [.gaussian(noiseMultiplier: 2)])
        let payload = try #require(actions.lazy.compactMap { if case .publishUpdate(_, let payload, _, _) = $0 { payload } else { nil } }.first)
        let update = try ModelCodec.delta(of: SafetensorsDecoder.decode(payload), like: Fixture.initial)
        // Noise of std 1 per entry, not the 0.001 the raw delta holds.
        #expect(update.tensors.flatMap(\.values).contains { abs($0 - 0.001) > 0.05 })
    }

    @Test("training that fails on local data is a refusal the log shows as a warning, and the agent is idle again")
    func trainingFailureIsLoud() throws {
        let aggregator = try machine(privacy: nil)
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0)
        _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
        #expect(trains(agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1001)))
        let actions = agent.trainingFailed(round: 1, reason: "row 3: 5 features, the model takes 3", now: 1002)
        #expect(refusal(actions) == "training failed: row 3: 5 features, the model takes 3")
        #expect(agent.status(now: 1003).state == .idle)
    }
}
