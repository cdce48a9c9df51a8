import FedMQCore
import FedMQProtocol
import Testing

/// A secure-aggregation round through both state machines, messages routed by topic in memory.
@Suite("Secure-aggregation rounds through the aggregator's and agents' state machines")
struct SecureRoundTests {
    let names = ["a1", "a2", "a3", "a4"]
    let identities: [String: SigningKey]
    /// Agents take part in secure rounds only with messages their aggregator signed.
    let aggregatorKey = SigningKey()
    let settings = SecureAggregationSettings(quantization: SecAggQuantization(clip: 1, scale: 65536), stageSeconds: 10)

    init() {
        identities = Dictionary(uniqueKeysWithValues: names.map { ($0, SigningKey()) })
    }

    func policy(privacy: ClientPrivacy? = nil) -> RoundPolicy {
        var policy = Fixture.policy
        policy.privacy = privacy
        policy.weighting = .uniform
        policy.normBound = nil
        policy.allowedAgents = names
        policy.secureAggregation = settings
        return policy
    }

    func delta(_ index: Int) -> Parameters {
        Fixture.delta(0.01 * Float(index + 1))
    }

    /// Runs round 1; agents in `silent` share their secrets and then go quiet (never train, mask or reveal).
    func runRound(silent: Set<String> = [], privacy: ClientPrivacy? = nil) throws -> (AggregatorStateMachine, [AggregatorAction]) {
        let topics = try Topics(job: Fixture.job)
        var aggregator = try AggregatorStateMachine(
            job: Fixture.job, policy: policy(privacy: privacy), spec: Fixture.spec, initial: Fixture.initial, now: 1000,
            signers: identities.mapValues(\.publicKey), random: SplitMix64(seed: 1))
        var agents = try Dictionary(
            uniqueKeysWithValues: names.enumerated().map { index, name in
                (
                    name,
                    try AgentStateMachine(
                        agent: name, job: Fixture.job, lastServedRound: 0, identity: identities[name], aggregatorKey: aggregatorKey.publicKey,
                        enrolment: identities.mapValues(\.publicKey), random: SplitMix64(seed: UInt64(index)))
                )
            })
        var toAggregator: [(String, AgentAction)] = []
        var aggregatorOut: [AggregatorAction] = []
        for (index, name) in names.enumerated() {
            let model = aggregator.modelBytes
            _ = agents[name]!.modelReceived(model, signature: aggregatorKey.sign(SignedStatement.model(job: Fixture.job, payload: model)), now: 1001)
            let announcement = ProtocolJSON.encode(aggregator.announcement)
            toAggregator += agents[name]!.roundReceived(
                announcement, signature: aggregatorKey.sign(SignedStatement.announcement(job: Fixture.job, payload: announcement)), now: 1001
            ).map { (name, $0) }
            if !silent.contains(name) {
                var trained = Fixture.initial
                try trained.add(delta(index))
                toAggregator += agents[name]!.trainingFinished(round: 1, trained: trained, examples: 10, now: 1002).map { (name, $0) }
            }
        }
        var clock = 1003.0
        while !toAggregator.isEmpty || clock < 1003 + 50 {
            var fromAggregator: [AggregatorAction] = []
            for (_, action) in toAggregator {
                guard case .publishSecAgg(let topic, let payload, _, let signature) = action,
                    case .secAgg(let stage, let round, let agent) = try topics.parse(topic)
                else { continue }
                fromAggregator += aggregator.receiveSecAgg(
                    agent: agent, round: round, stage: stage, payload: payload, signature: signature, now: clock)
            }
            toAggregator = []
            if fromAggregator.isEmpty {
                clock += 5  // stage deadlines pass for agents that are silent
                fromAggregator = aggregator.tick(now: clock)
            }
            aggregatorOut += fromAggregator
            for action in fromAggregator {
                guard case .publishSecAgg(let topic, let payload, let kind, let round, _) = action else { continue }
                let receivers: [String]
                switch try topics.parse(topic) {
                case .secAggInbox(_, _, let agent): receivers = [agent]
                default: receivers = names
                }
                for name in receivers where !silent.contains(name) || kind == SecAggInboxKind.roster.rawValue {
                    let signature = aggregatorKey.sign(SignedStatement.secAgg(kind, job: Fixture.job, round: round, payload: payload))
                    toAggregator += agents[name]!.secAggReceived(kind: kind, round: round, payload: payload, signature: signature, now: clock)
                        .map { (name, $0) }
                }
            }
            if aggregatorOut.contains(where: { if case .publishMetrics = $0 { true } else { false } }) { break }
        }
        return (aggregator, aggregatorOut)
    }

    @Test("the new model is the base plus the mean of the agents' deltas, within one quantization step")
    func allAgents() throws {
        let (aggregator, actions) = try runRound()
        #expect(aggregator.model.round == 1)
        let deltas: [Float] = [0.01, 0.02, 0.03, 0.04]
        let expected = deltas.reduce(0, +) / 4
        for (trained, initial) in zip(aggregator.model.parameters.tensors, Fixture.initial.tensors) {
            for (value, start) in zip(trained.values, initial.values) { #expect(abs(value - start - expected) <= 2.0 / 65536) }
        }
        let metrics = try #require(actions.metrics)
        #expect(metrics.participants == names)
        #expect(metrics.secureAggregation == SecAggRoundReport(degree: 3, threshold: 3, dropped: []))
        #expect(aggregator.announcement.round == 2)
    }

    @Test("an agent that shared and then went silent is dropped; its pairwise masks are removed and the mean is of the others")
    func dropout() throws {
        let (aggregator, actions) = try runRound(silent: ["a4"])
        let metrics = try #require(actions.metrics)
        #expect(metrics.participants == ["a1", "a2", "a3"])
        #expect(metrics.secureAggregation?.dropped == ["a4"])
        let expected: Float = (0.01 + 0.02 + 0.03) / 3
        let value = aggregator.model.parameters.tensors[0].values[0] - Fixture.initial.tensors[0].values[0]
        #expect(abs(value - expected) <= 2.0 / 65536)
    }

    @Test("with distributed privacy, agents add discrete Gaussian noise and the epsilon is the sum's, against the aggregator")
    func distributedPrivacy() throws {
        let privacy = ClientPrivacy(mode: .distributed, clipNorm: 1, noiseMultiplier: 1, expectedCohort: 4)
        let (aggregator, actions) = try runRound(privacy: privacy)
        let metrics = try #require(actions.metrics)
        #expect(metrics.participants == names)
        // sigma per agent = z * (C * scale + sqrt(8)) / sqrt(4 * 0.8); 4 honest survivors.
        let sensitivity = 65536 + 8.0.squareRoot()
        let multiplier = (sensitivity / (4 * 0.8).squareRoot()) * 2 / sensitivity
        #expect(abs(SecAggNoise.publishedMultiplier(privacy, settings, dimension: 8, survivors: 4, cohort: 4) - multiplier) < 1e-12)
        var expected = RDPAccountant()
        try expected.compose(.gaussian(noiseMultiplier: multiplier))
        #expect(abs(try #require(metrics.epsilon) - expected.epsilon(delta: 1e-5).epsilon) < 1e-9)
        #expect(metrics.threatModel?.contains("secure aggregation") == true)
        // The noise is there: about 0.28 per entry of the mean, against 2^-16 of rounding.
        let mean: Float = (0.01 + 0.02 + 0.03 + 0.04) / 4
        let deviations = zip(aggregator.model.parameters.tensors.flatMap(\.values), Fixture.initial.tensors.flatMap(\.values)).map {
            abs($0 - $1 - mean)
        }
        #expect(deviations.contains { $0 > 0.01 })
    }

    @Test("too few survivors at the masking deadline fail the round cleanly: model kept, failure reported, the next round opens")
    func failedRound() throws {
        let (aggregator, actions) = try runRound(silent: ["a3", "a4"])
        let metrics = try #require(actions.metrics)
        #expect(metrics.updates == 0)
        #expect(
            metrics.secureAggregation?.failure?.contains("only 2 agents sent a masked update") == true,
            "\(String(describing: metrics.secureAggregation))")
        #expect(aggregator.model.round == 0)
        #expect(aggregator.model.parameters == Fixture.initial)
        #expect(aggregator.announcement.round == 2)
        #expect(aggregator.secAgg?.round == 2)
    }

    @Test("plain updates are refused in a secure job; secure messages without a valid agent signature too")
    func refusals() throws {
        var aggregator = try AggregatorStateMachine(
            job: Fixture.job, policy: policy(), spec: Fixture.spec, initial: Fixture.initial, now: 1000,
            signers: identities.mapValues(\.publicKey))
        #expect(
            aggregator.receive(agent: "a1", round: 1, payload: Fixture.update(aggregator, agent: "a1"), now: 1001).rejections == [.secureAggregation])
        #expect(aggregator.receiveSecAgg(agent: "a1", round: 1, stage: .keys, payload: [1], signature: nil, now: 1001).rejections == [.badSignature])
        #expect(throws: ProtocolError.self) {
            try AggregatorStateMachine(job: Fixture.job, policy: policy(), spec: Fixture.spec, initial: Fixture.initial, now: 1000)
        }
    }
}
