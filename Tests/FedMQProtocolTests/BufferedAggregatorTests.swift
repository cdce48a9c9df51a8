import FedMQCore
import FedMQProtocol
import Foundation
import Testing

@Suite("Asynchronous buffered aggregation")
struct BufferedAggregatorTests {
    /// Buffers of two, staleness up to 2, weighted (1 + s)^-1 (so 1, 1/2, 1/3), plain mean.
    static func policy(rounds: Int = 5, privacy: ClientPrivacy? = nil) -> RoundPolicy {
        var policy = RoundPolicy(
            rounds: rounds, targetUpdates: 2, minUpdates: nil, roundSeconds: 60, maxUpdateBytes: 4096, normBound: privacy == nil ? 10 : nil,
            training: TrainingConfig(learningRate: 0.1, batchSize: 4, epochs: 1), weighting: .uniform, privacy: privacy)
        policy.mode = .asynchronous
        policy.asynchronous = AsynchronousSettings(maxStaleness: 2, staleness: StalenessWeight(function: .polynomial, exponent: 1))
        return policy
    }

    static func machine(_ policy: RoundPolicy = policy()) throws -> BufferedAggregatorStateMachine {
        try BufferedAggregatorStateMachine(job: Fixture.job, policy: policy, spec: Fixture.spec, initial: Fixture.initial, now: 1000)
    }

    /// An update trained for `round` on the model whose hash is `base`, every value `value`.
    static func update(agent: String, round: Int, base: String, value: Float) -> [UInt8] {
        ModelCodec.encodeUpdate(
            Fixture.delta(value), encoding: .float32, job: Fixture.job, round: round, agent: agent, baseSHA256: base, examples: 10)
    }

    static func values(_ machine: BufferedAggregatorStateMachine) -> [Float] {
        machine.model.parameters.tensors.flatMap(\.values)
    }

    @Test("each buffer of target_updates makes a version: the mean of the updates, each scaled by its staleness weight")
    func versionsFromStaleUpdates() throws {
        var machine = try Self.machine()
        let initial = Self.values(machine)
        let version0 = machine.model.sha256
        #expect(machine.announcement.asynchronous?.maxStaleness == 2)
        #expect(
            machine.receive(agent: "a1", round: 1, payload: Self.update(agent: "a1", round: 1, base: version0, value: 1), signature: nil, now: 1001)
                .spooled == 1)
        let first = machine.receive(
            agent: "a2", round: 1, payload: Self.update(agent: "a2", round: 1, base: version0, value: 3), signature: nil, now: 1002)
        #expect(first.metrics?.round == 1 && first.metrics?.staleness == StalenessReport(staleness: ["a1": 0, "a2": 0], weights: [1, 1]))
        #expect(machine.model.round == 1 && machine.announcement.round == 2 && machine.announcement.baseModelSHA256 == machine.model.sha256)
        #expect(zip(Self.values(machine), initial).allSatisfy { abs($0 - ($1 + 2)) < 1e-6 }, "mean of 1 and 3")
        let version1 = machine.model.sha256

        // a3 trained on version 0 too; it arrives one version late and counts half.
        _ = machine.receive(agent: "a3", round: 1, payload: Self.update(agent: "a3", round: 1, base: version0, value: 2), signature: nil, now: 1003)
        let second = machine.receive(
            agent: "a1", round: 2, payload: Self.update(agent: "a1", round: 2, base: version1, value: 1), signature: nil, now: 1004)
        let metrics = try #require(second.metrics)
        #expect(metrics.participants == ["a1", "a3"])
        #expect(metrics.staleness == StalenessReport(staleness: ["a1": 0, "a3": 1], weights: [1, 0.5]))
        // (0.5 * 2 + 1 * 1) / 2 = 1 on top of version 1.
        #expect(zip(Self.values(machine), initial).allSatisfy { abs($0 - ($1 + 3)) < 1e-6 })
        #expect(machine.model.round == 2)
    }

    @Test("FedBuff's server step: with fedavgm each version moves by the server learning rate times the momentum of the buffers' means")
    func serverMomentum() throws {
        var policy = Self.policy()
        var strategy = StrategyConfig(name: "fedavgm", learningRate: 0.5)
        strategy.beta1 = 0.9
        policy.strategy = strategy
        var machine = try Self.machine(policy)
        let initial = Self.values(machine)
        for (round, value) in [(1, Float(1)), (2, Float(2))] {
            for agent in ["a\(round)", "b\(round)"] {
                _ = machine.receive(
                    agent: agent, round: round, payload: Self.update(agent: agent, round: round, base: machine.model.sha256, value: value),
                    signature: nil, now: 1001)
            }
        }
        // m1 = 1, x1 = x0 + 0.5; m2 = 0.9 + 2 = 2.9, x2 = x1 + 1.45.
        #expect(machine.model.round == 2)
        #expect(zip(Self.values(machine), initial).allSatisfy { abs($0 - ($1 + 1.95)) < 1e-5 }, "\(Self.values(machine))")
    }

    @Test("stale, future, duplicate and mis-based updates get their named reasons and change nothing")
    func rejections() throws {
        var machine = try Self.machine()
        var bases = [machine.model.sha256]
        // Three versions: a0..a5 fill the buffers of rounds 1 to 3.
        for round in 1...3 {
            for agent in ["x\(round)a", "x\(round)b"] {
                _ = machine.receive(
                    agent: agent, round: round, payload: Self.update(agent: agent, round: round, base: bases[round - 1], value: 0.1), signature: nil,
                    now: 1001)
            }
            bases.append(machine.model.sha256)
        }
        #expect(machine.announcement.round == 4)
        let before = machine.model.sha256
        func reason(_ agent: String, _ round: Int, base: String) -> [RejectionReason] {
            machine.receive(
                agent: agent, round: round, payload: Self.update(agent: agent, round: round, base: base, value: 0.1), signature: nil, now: 1010
            )
            .rejections
        }
        #expect(reason("late", 1, base: bases[0]) == [.stale], "3 versions old, max_staleness 2")
        #expect(reason("early", 5, base: bases[3]) == [.wrongRound])
        #expect(reason("forger", 3, base: bases[0]) == [.baseMismatch], "round 3 trained on version 2, not 0")
        #expect(reason("x3a", 3, base: bases[2]) == [.duplicate], "x3a counted for round 3 already")
        #expect(reason("x3b", 2, base: bases[1]).contains(.duplicate), "nor for an older round")
        #expect(reason("fresh", 2, base: bases[1]).isEmpty, "2 versions old is allowed")
        #expect(reason("fresh", 4, base: bases[3]) == [.duplicate], "one update per agent per buffer")
        #expect(machine.model.sha256 == before && machine.acceptedAgents == ["fresh"])
        #expect(
            machine.receiveSecAgg(agent: "a1", round: 4, stage: .keys, payload: [1], signature: nil, now: 1011).rejections == [.secureAggregation])
    }

    @Test("a restart from checkpoint and spool holds the same buffer; what counted before stays counted")
    func resume() throws {
        var machine = try Self.machine()
        let version0 = machine.model.sha256
        var checkpoint: AggregatorCheckpoint?
        var checkpointModel: [UInt8] = []
        for agent in ["a1", "a2"] {
            for action in machine.receive(
                agent: agent, round: 1, payload: Self.update(agent: agent, round: 1, base: version0, value: 1), signature: nil, now: 1001)
            {
                if case .checkpoint(let saved, let model) = action { (checkpoint, checkpointModel) = (saved, model) }
            }
        }
        let stale = Self.update(agent: "a3", round: 1, base: version0, value: 2)
        #expect(machine.receive(agent: "a3", round: 1, payload: stale, signature: nil, now: 1002).spooled == 1)

        let saved = try #require(checkpoint)
        let savedModel = checkpointModel
        var resumed = try BufferedAggregatorStateMachine(
            job: Fixture.job, policy: Self.policy(), checkpoint: saved, modelBytes: savedModel, spooled: [(agent: "a3", payload: stale)])
        #expect(resumed.acceptedAgents == ["a3"] && resumed.announcement.round == 2)
        let replay = Self.update(agent: "a1", round: 1, base: version0, value: 1)
        #expect(resumed.receive(agent: "a1", round: 1, payload: replay, signature: nil, now: 1003).rejections == [.duplicate])
        let closing = Self.update(agent: "a1", round: 2, base: resumed.model.sha256, value: 1)
        _ = machine.receive(agent: "a1", round: 2, payload: closing, signature: nil, now: 1004)
        _ = resumed.receive(agent: "a1", round: 2, payload: closing, signature: nil, now: 1004)
        #expect(resumed.model == machine.model, "the same version as without the restart")

        // A job keeps its mode: an asynchronous checkpoint is refused by a rounds policy, and the reverse.
        let rounds = Fixture.machine()
        let roundsCheckpoint = AggregatorCheckpoint(announcement: rounds.announcement, modelSHA256: rounds.model.sha256, finished: false)
        let refusals = [
            Result { try AggregatorStateMachine(job: Fixture.job, policy: Fixture.policy, checkpoint: saved, modelBytes: savedModel, spooled: []) }
                .map { _ in () },
            Result {
                try BufferedAggregatorStateMachine(
                    job: Fixture.job, policy: Self.policy(), checkpoint: roundsCheckpoint, modelBytes: rounds.modelBytes, spooled: [])
            }.map { _ in () },
        ]
        for refusal in refusals {
            guard case .failure(let error) = refusal else {
                Issue.record("a checkpoint of the other mode was accepted")
                continue
            }
            #expect("\(error)".contains("a job keeps its mode"), "\(error)")
        }
    }

    @Test("with client-level privacy each buffer is one release, its agents' noise counted as sqrt(sum of squared weights)")
    func privacyPerBuffer() throws {
        let privacy = ClientPrivacy(mode: .local, clipNorm: 1, noiseMultiplier: 1.2)
        var machine = try Self.machine(Self.policy(privacy: privacy))
        let version0 = machine.model.sha256
        for agent in ["a1", "a2"] {
            _ = machine.receive(
                agent: agent, round: 1, payload: Self.update(agent: agent, round: 1, base: version0, value: 0.01), signature: nil, now: 1001)
        }
        _ = machine.receive(
            agent: "a3", round: 1, payload: Self.update(agent: "a3", round: 1, base: version0, value: 0.01), signature: nil, now: 1002)
        let closed = machine.receive(
            agent: "a4", round: 2, payload: Self.update(agent: "a4", round: 2, base: machine.model.sha256, value: 0.01), signature: nil, now: 1003)
        let metrics = try #require(closed.metrics)

        var expected = RDPAccountant()
        try expected.compose(.gaussian(noiseMultiplier: 1.2 * 2.0.squareRoot()))
        try expected.compose(.gaussian(noiseMultiplier: 1.2 * 1.25.squareRoot()))
        #expect(abs((metrics.epsilon ?? 0) - expected.epsilon(delta: 1e-5).epsilon) < 1e-9)
        #expect(metrics.threatModel?.contains("each update alone carries noise multiplier 1.2") == true)
        #expect(metrics.staleness?.weightSquares == 1.25)
    }

    @Test("in an enrolled fleet a stale update must carry its agent's signature over the round and base it names")
    func signatures() throws {
        let keys = ["a1": SigningKey(), "a2": SigningKey(), "a3": SigningKey()]
        var machine = try BufferedAggregatorStateMachine(
            job: Fixture.job, policy: Self.policy(), spec: Fixture.spec, initial: Fixture.initial, now: 1000,
            signers: keys.mapValues(\.publicKey))
        let version0 = machine.model.sha256
        func signed(_ agent: String, round: Int, base: String, by key: SigningKey?) -> [RejectionReason] {
            let payload = Self.update(agent: agent, round: round, base: base, value: 0.1)
            let signature = key?.sign(SignedStatement.update(job: Fixture.job, round: round, baseSHA256: base, agent: agent, payload: payload))
            return machine.receive(agent: agent, round: round, payload: payload, signature: signature, now: 1001).rejections
        }
        #expect(signed("a1", round: 1, base: version0, by: keys["a1"]).isEmpty)
        #expect(signed("a2", round: 1, base: version0, by: keys["a2"]).isEmpty)
        #expect(machine.announcement.round == 2)
        // Round 1 is now one version old: still signed over round 1 and version 0's hash.
        #expect(signed("a3", round: 1, base: version0, by: nil) == [.unsigned])
        #expect(signed("a3", round: 1, base: version0, by: keys["a1"]) == [.badSignature])
        #expect(signed("a3", round: 1, base: version0, by: keys["a3"]).isEmpty)
        #expect(machine.acceptedAgents == ["a3"])
    }

    @Test("only allowed agents' updates count")
    func allowedAgents() throws {
        var policy = Self.policy()
        policy.allowedAgents = ["a1"]
        var machine = try Self.machine(policy)
        let base = machine.model.sha256
        let refused = machine.receive(
            agent: "zz", round: 1, payload: Self.update(agent: "zz", round: 1, base: base, value: 0.1), signature: nil, now: 1001)
        #expect(refused.rejections == [.senderNotAllowed])
        #expect(
            machine.receive(agent: "a1", round: 1, payload: Self.update(agent: "a1", round: 1, base: base, value: 0.1), signature: nil, now: 1002)
                .rejections.isEmpty)
    }

    @Test("a policy refuses what needs a fixed cohort, and asynchronous settings without the mode")
    func policyChecks() {
        var secure = Self.policy()
        secure.secureAggregation = SecureAggregationSettings(quantization: SecAggQuantization(clip: 1, scale: 65536))
        #expect(throws: ProtocolError.self) { try secure.validate() }
        var selection = Self.policy()
        selection.selection = ClientSelection(fraction: 0.5)
        #expect(throws: ProtocolError.self) { try selection.validate() }
        var stray = RoundPolicy(targetUpdates: 2, minUpdates: nil)
        stray.asynchronous = AsynchronousSettings()
        #expect(throws: ProtocolError.self) { try stray.validate() }
        var tooStale = Self.policy()
        tooStale.asynchronous?.maxStaleness = -1
        #expect(throws: ProtocolError.self) { try tooStale.validate() }
    }

    @Test("staleness weights: constant, polynomial and hinge")
    func weights() {
        #expect(StalenessWeight(function: .constant).weight(staleness: 9) == 1)
        #expect(StalenessWeight(function: .polynomial, exponent: 0.5).weight(staleness: 3) == 0.5)
        let hinge = StalenessWeight(function: .hinge, exponent: 2, hingeAt: 2)
        #expect([0, 2, 3, 4].map(hinge.weight(staleness:)) == [1, 1, 1.0 / 3, 0.2])
    }
}
