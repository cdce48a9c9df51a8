import FedMQCore
import FedMQProtocol
import Testing

/// One enrolled agent that sends what passes every per-update check and still tries to break the job.
@Suite("A rogue agent against the aggregator")
struct RogueAgentTests {
    /// A job without DP and without a norm bound: nothing bounds an update's size.
    var unbounded: RoundPolicy {
        var policy = Fixture.policy
        policy.normBound = nil
        policy.targetUpdates = 2
        policy.minUpdates = 1
        return policy
    }

    @Test("finite updates near Float's limit make the aggregate infinite: the round fails, the model is kept and never published")
    func nonFiniteAggregate() throws {
        var machine = Fixture.machine(policy: unbounded)
        let before = machine.model
        _ = machine.receive(agent: "a1", round: 1, payload: Fixture.update(machine, agent: "a1", value: 3e38, examples: 2), now: 1001)
        let actions = machine.receive(agent: "a2", round: 1, payload: Fixture.update(machine, agent: "a2", value: 3e38, examples: 2), now: 1002)
        let metrics = try #require(actions.metrics)
        #expect(metrics.failure?.contains("not finite") == true)
        #expect(machine.model == before)
        #expect(machine.model.parameters.allFinite)
        for action in actions {
            if case .publishModel(let bytes) = action { #expect(try ModelCodec.decodeModel(bytes).parameters.allFinite) }
            if case .checkpoint(let checkpoint, let bytes) = action {
                #expect(checkpoint.modelSHA256 == before.sha256)
                #expect(bytes == machine.modelBytes)
            }
        }
        // The job goes on: round 2 opens from the kept model and an honest round works.
        #expect(machine.announcement.round == 2)
        #expect(machine.announcement.baseModelSHA256 == before.sha256)
        _ = machine.receive(agent: "a1", round: 2, payload: Fixture.update(machine, agent: "a1", value: 0.5), now: 1003)
        let next = machine.receive(agent: "a2", round: 2, payload: Fixture.update(machine, agent: "a2", value: 0.5), now: 1004)
        #expect(try #require(next.metrics).failure == nil)
        #expect(machine.model.round == 2)
    }

    @Test("a claimed example count above max_examples_per_update weighs as the cap")
    func examplesCapped() throws {
        var policy = unbounded
        policy.maxExamplesPerUpdate = 100
        var machine = Fixture.machine(policy: policy)
        _ = machine.receive(agent: "a1", round: 1, payload: Fixture.update(machine, agent: "a1", value: 1, examples: 100), now: 1001)
        let actions = machine.receive(agent: "a2", round: 1, payload: Fixture.update(machine, agent: "a2", value: 3, examples: 1 << 39), now: 1002)
        // (1 * 100 + 3 * 100) / 200 = 2, not the 3 a trusted 2^39 would give.
        let initial = Fixture.initial.tensors.flatMap(\.values)
        let moved = zip(machine.model.parameters.tensors.flatMap(\.values), initial).map { $0 - $1 }
        #expect(moved.allSatisfy { abs($0 - 2) < 1e-5 }, "\(moved)")
        #expect(try #require(actions.metrics).examples == 200)
        policy.maxExamplesPerUpdate = 0
        #expect(throws: ProtocolError.self) { try policy.validate() }
    }

    @Test("central mode clips on the server to exactly C: the 2% slack allowed for encoding never reaches the mean")
    func centralClipsExactly() throws {
        var policy = Fixture.policy
        policy.weighting = .uniform
        policy.privacy = ClientPrivacy(mode: .central, clipNorm: 1, noiseMultiplier: 1)
        let machine = Fixture.machine(policy: policy)
        let value = Float(1.015 / Double(Fixture.initial.count).squareRoot())
        let validator = UpdateValidator(announcement: machine.announcement, model: machine.model, allowedAgents: nil)
        guard case .success(let accepted) = validator.validate(agent: "a1", round: 1, payload: Fixture.update(machine, agent: "a1", value: value))
        else {
            Issue.record("an update within the slack was refused")
            return
        }
        #expect(accepted.delta.l2Norm <= 1 + 1e-6)
        #expect(accepted.delta.l2Norm > 0.999)
    }

    @Test("server optimizers take the job's weighting: with 'uniform' one agent's example count has no pull")
    func optimizerWeighting() throws {
        var policy = unbounded
        policy.weighting = .uniform
        policy.strategy = StrategyConfig(name: "fedavgm", learningRate: 1)
        var machine = Fixture.machine(policy: policy)
        _ = machine.receive(agent: "a1", round: 1, payload: Fixture.update(machine, agent: "a1", value: 1, examples: 1), now: 1001)
        _ = machine.receive(agent: "a2", round: 1, payload: Fixture.update(machine, agent: "a2", value: 3, examples: 1000), now: 1002)
        let initial = Fixture.initial.tensors.flatMap(\.values)
        let moved = zip(machine.model.parameters.tensors.flatMap(\.values), initial).map { $0 - $1 }
        #expect(moved.allSatisfy { abs($0 - 2) < 1e-5 }, "\(moved)")
    }
}

/// A forged retained model (a broker without ACLs) must not stall the job.
@Suite("Recovering from a forged or lost retained model")
struct ForgedModelTests {
    @Test("an agent that refuses the retained model says which it waits for; the aggregator publishes it again, at most every 5 s")
    func waitingForModel() throws {
        var aggregator = Fixture.machine()
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0)
        _ = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1001)
        let actions = agent.modelReceived(Array("not a model".utf8), now: 1001)
        let status = try #require(actions.lazy.compactMap { if case .publishStatus(let status) = $0 { status } else { nil } }.first)
        #expect(status.waitingForModel == aggregator.model.sha256)
        // Said once per round.
        #expect(!agent.modelReceived(Array("still not".utf8), now: 1002).contains { if case .publishStatus = $0 { true } else { false } })
        let payload = ProtocolJSON.encode(status)
        #expect(aggregator.statusReceived(agent: "a1", payload: payload, now: 1002) == [.publishModel(aggregator.modelBytes)])
        #expect(aggregator.statusReceived(agent: "a1", payload: payload, now: 1004).isEmpty)
        #expect(aggregator.statusReceived(agent: "a1", payload: payload, now: 1007) == [.publishModel(aggregator.modelBytes)])
        // The real model arrives: the agent trains and no longer waits.
        let next = agent.modelReceived(aggregator.modelBytes, now: 1008)
        #expect(next.contains { if case .train = $0 { true } else { false } })
        #expect(agent.status(now: 1008).waitingForModel == nil)
    }

    @Test("a deadline extension publishes the model again with the round")
    func extensionRepublishesModel() {
        var aggregator = Fixture.machine()
        let actions = aggregator.tick(now: 1060)
        #expect(actions.contains(.publishModel(aggregator.modelBytes)))
        let kinds = actions.map { if case .publishModel = $0 { "model" } else if case .publishRound = $0 { "round" } else { "other" } }
        #expect(kinds.firstIndex(of: "model")! < kinds.firstIndex(of: "round")!)
    }
}

@Suite("Secure sums that cannot wrap")
struct SecureHeadroomTests {
    func machine(enrolled: Int, scale: Double, privacy: ClientPrivacy?) throws -> AggregatorStateMachine {
        var policy = Fixture.policy
        policy.normBound = nil
        policy.weighting = .uniform
        policy.privacy = privacy
        policy.targetUpdates = 3
        policy.secureAggregation = SecureAggregationSettings(quantization: SecAggQuantization(clip: 1, scale: scale))
        let signers = Dictionary(uniqueKeysWithValues: (0..<enrolled).map { ("a\($0)", SigningKey().publicKey) })
        return try AggregatorStateMachine(job: Fixture.job, policy: policy, spec: Fixture.spec, initial: Fixture.initial, now: 1000, signers: signers)
    }

    @Test("the live cohort (every enrolled agent), not target_updates, bounds the sum; the noise's tail counts too")
    func liveCohortAndNoise() throws {
        // 3 x 2^20 fits; 2,100 enrolled agents x 2^20 would wrap although target_updates is 3.
        _ = try machine(enrolled: 3, scale: 0x1p20, privacy: nil)
        #expect(throws: ProtocolError.self) { try self.machine(enrolled: 2_100, scale: 0x1p20, privacy: nil) }
        // 1,000 x (2^21 + 1) is just under 2^31 without noise; distributed noise sized for 4 agents pushes it over.
        _ = try machine(enrolled: 1_000, scale: 0x1p21, privacy: nil)
        let noisy = ClientPrivacy(mode: .distributed, clipNorm: 1, noiseMultiplier: 1, expectedCohort: 4)
        #expect(throws: ProtocolError.self) { try self.machine(enrolled: 1_000, scale: 0x1p21, privacy: noisy) }
    }
}

@Suite("Policies refused or named when read")
struct PolicyChecksTests {
    @Test("a robust strategy that cannot aggregate min_updates updates is refused by name, not replaced by FedAvg")
    func strategyMinimum() throws {
        var policy = Fixture.policy
        policy.minUpdates = 5
        policy.targetUpdates = 10
        policy.maxAgents = 100
        policy.strategy = StrategyConfig(name: "bulyan", f: 1)
        #expect(throws: ProtocolError.invalidConfiguration("strategy 'bulyan' needs at least 7 updates per round; min_updates is 5")) {
            try policy.validate()
        }
        policy.minUpdates = 7
        try policy.validate()
        policy.strategy = StrategyConfig(name: "krum", f: 5)
        #expect(throws: ProtocolError.self) { try policy.validate() }
        policy.strategy = StrategyConfig(name: "no_such_strategy")
        #expect(throws: ProtocolError.self) { try policy.validate() }
    }

    @Test("a policy with neither privacy nor a norm bound is named; one with either is not")
    func unboundedWarning() {
        var policy = Fixture.policy
        #expect(policy.unboundedUpdatesWarning == nil)
        policy.normBound = nil
        #expect(policy.unboundedUpdatesWarning?.contains("norm_bound") == true)
        policy.privacy = ClientPrivacy(mode: .local, clipNorm: 1, noiseMultiplier: 1)
        #expect(policy.unboundedUpdatesWarning == nil)
    }
}
