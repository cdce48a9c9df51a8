import FedMQCore
import FedMQProtocol
import Testing

/// Signed updates, models and rounds (Ed25519 identities): who may contribute is decided by
/// keys, not by the broker's ACLs.
@Suite("Signed updates")
struct SignedUpdateTests {
    let keys = ["a1": SigningKey(), "a2": SigningKey(), "a3": SigningKey()]
    let aggregatorKey = SigningKey()

    func machine() -> AggregatorStateMachine {
        try! AggregatorStateMachine(
            job: Fixture.job, policy: Fixture.policy, spec: Fixture.spec, initial: Fixture.initial, now: 1000,
            signers: keys.mapValues(\.publicKey))
    }

    func signature(_ machine: AggregatorStateMachine, by key: SigningKey, agent: String, round: Int? = nil, payload: [UInt8]) -> String {
        key.sign(
            SignedStatement.update(
                job: Fixture.job, round: round ?? machine.announcement.round, baseSHA256: machine.model.sha256, agent: agent, payload: payload))
    }

    @Test("an update signed by its enrolled agent counts; unsigned, unknown, impersonated and tampered ones are rejected by name")
    func rejectsWhatIsNotSigned() throws {
        var machine = machine()
        let payload = Fixture.update(machine, agent: "a1")
        #expect(machine.receive(agent: "a1", round: 1, payload: payload, now: 1001).rejections == [.unsigned])
        let stranger = SigningKey()
        let fromStranger = Fixture.update(machine, agent: "intruder")
        #expect(
            machine.receive(
                agent: "intruder", round: 1, payload: fromStranger,
                signature: signature(machine, by: stranger, agent: "intruder", payload: fromStranger), now: 1001
            ).rejections == [.unknownSigner])
        // a2's key on a1's topic: impersonation, whatever the broker's ACL let through.
        #expect(
            machine.receive(
                agent: "a1", round: 1, payload: payload,
                signature: signature(machine, by: keys["a2"]!, agent: "a1", payload: payload), now: 1001
            ).rejections == [.badSignature])
        let good = signature(machine, by: keys["a1"]!, agent: "a1", payload: payload)
        var tampered = payload
        tampered[tampered.count - 1] ^= 0x01
        #expect(machine.receive(agent: "a1", round: 1, payload: tampered, signature: good, now: 1001).rejections == [.badSignature])
        #expect(machine.receive(agent: "a1", round: 1, payload: payload, signature: "not base64!", now: 1001).rejections == [.badSignature])
        #expect(machine.receive(agent: "a1", round: 1, payload: payload, signature: good, now: 1002).spooled == 1)
        #expect(machine.acceptedAgents == ["a1"])
    }

    @Test("a replayed update of an earlier round is refused on its old topic and on the open round's topic")
    func refusesReplays() throws {
        var machine = machine()
        var round1: (payload: [UInt8], signature: String)?
        for agent in ["a1", "a2", "a3"] {
            let payload = Fixture.update(machine, agent: agent)
            let signed = signature(machine, by: keys[agent]!, agent: agent, payload: payload)
            if agent == "a1" { round1 = (payload, signed) }
            _ = machine.receive(agent: agent, round: 1, payload: payload, signature: signed, now: 1001)
        }
        #expect(machine.announcement.round == 2)
        let old = try #require(round1)
        #expect(machine.receive(agent: "a1", round: 1, payload: old.payload, signature: old.signature, now: 1003).rejections == [.closedRound])
        #expect(machine.receive(agent: "a1", round: 2, payload: old.payload, signature: old.signature, now: 1003).rejections == [.badSignature])
    }

    @Test("a restarted aggregator replays its spooled, already verified updates")
    func resumesSpooledUpdates() throws {
        var machine = machine()
        let payload = Fixture.update(machine, agent: "a1")
        _ = machine.receive(
            agent: "a1", round: 1, payload: payload, signature: signature(machine, by: keys["a1"]!, agent: "a1", payload: payload), now: 1001)
        let checkpoint = AggregatorCheckpoint(announcement: machine.announcement, modelSHA256: machine.model.sha256, finished: false)
        let resumed = try AggregatorStateMachine(
            job: Fixture.job, policy: Fixture.policy, checkpoint: checkpoint, modelBytes: machine.modelBytes,
            spooled: [("a1", payload)], signers: keys.mapValues(\.publicKey))
        #expect(resumed.acceptedAgents == ["a1"])
    }

    @Test("an agent with an identity signs its update so that the aggregator accepts it")
    func agentSigns() throws {
        var aggregator = machine()
        var agent = try AgentStateMachine(agent: "a2", job: Fixture.job, lastServedRound: 0, identity: keys["a2"])
        _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
        _ = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1001)
        var trained = Fixture.initial
        try trained.add(Fixture.delta(0.5))
        let actions = agent.trainingFinished(round: 1, trained: trained, examples: 5, now: 1002)
        guard case .publishUpdate(_, let payload, _, let signature?) = actions[1] else {
            Issue.record("expected a signed publish, got \(actions)")
            return
        }
        #expect(aggregator.receive(agent: "a2", round: 1, payload: payload, signature: signature, now: 1003).spooled == 1)
    }

    @Test("an agent that trusts the aggregator's key ignores an unsigned or forged model and round, and trains on signed ones")
    func agentVerifiesAggregator() throws {
        let aggregator = machine()
        let model = aggregator.modelBytes
        let round = ProtocolJSON.encode(aggregator.announcement)
        let modelSignature = aggregatorKey.sign(SignedStatement.model(job: Fixture.job, payload: model))
        let roundSignature = aggregatorKey.sign(SignedStatement.announcement(job: Fixture.job, payload: round))
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0, aggregatorKey: aggregatorKey.publicKey)

        #expect(
            agent.modelReceived(model, now: 1001) == [.ignored("global model refused: not signed, and this agent trusts only its aggregator's key")])
        let forged = SigningKey().sign(SignedStatement.model(job: Fixture.job, payload: model))
        #expect(agent.modelReceived(model, signature: forged, now: 1001) == [.ignored("global model refused: the signature is not the aggregator's")])
        // The model's signature does not verify a round announcement (each statement has its own label).
        #expect(
            agent.roundReceived(round, signature: modelSignature, now: 1001) == [
                .ignored("round announcement refused: the signature is not the aggregator's")
            ])
        #expect(agent.model == nil && agent.round == nil)

        _ = agent.modelReceived(model, signature: modelSignature, now: 1001)
        let started = agent.roundReceived(round, signature: roundSignature, now: 1001)
        #expect(started.contains { if case .train(round: 1, _, _) = $0 { true } else { false } })
    }

    @Test("keys round-trip through base64, and malformed keys are refused with a clear error")
    func keyEncoding() throws {
        let key = SigningKey()
        let copy = try SigningKey(base64: key.base64 + "\n")
        #expect(copy.publicKey == key.publicKey)
        #expect(try VerifyingKey(base64: key.publicKey.base64) == key.publicKey)
        let statement = SignedStatement.model(job: "j", payload: [1, 2, 3])
        #expect(key.publicKey.verifies(copy.sign(statement), for: statement))
        #expect(!key.publicKey.verifies(copy.sign(statement), for: SignedStatement.announcement(job: "j", payload: [1, 2, 3])))
        #expect(throws: ProtocolError.invalidKey("an Ed25519 private key is the base64 of 32 bytes")) { try SigningKey(base64: "c2hvcnQ=") }
        #expect(throws: ProtocolError.invalidKey("an Ed25519 public key is the base64 of 32 bytes")) { try VerifyingKey(base64: "%%%") }
    }
}

/// Signed messages can still be replayed by anyone who can write to the broker without ACLs.
@Suite("Replayed signed announcements and models")
struct ReplayTests {
    @Test("an agent refuses a replayed older signed model or announcement, of an earlier round or of this round before an extension")
    func replays() throws {
        let key = SigningKey()
        func signedRound(_ announcement: RoundAnnouncement) -> (payload: [UInt8], signature: String) {
            let payload = ProtocolJSON.encode(announcement)
            return (payload, key.sign(SignedStatement.announcement(job: Fixture.job, payload: payload)))
        }
        func signedModel(_ bytes: [UInt8]) -> String { key.sign(SignedStatement.model(job: Fixture.job, payload: bytes)) }
        var aggregator = Fixture.machine()
        let firstModel = aggregator.modelBytes
        let first = signedRound(aggregator.announcement)
        let extensionActions = aggregator.tick(now: 1060)
        #expect(aggregator.announcement.revision == 1)
        guard case .publishRound(let extended) = extensionActions.first(where: { if case .publishRound = $0 { true } else { false } }) else {
            Issue.record("no republished round")
            return
        }
        var agent = try AgentStateMachine(agent: "a9", job: Fixture.job, lastServedRound: 0, aggregatorKey: key.publicKey)
        let current = signedRound(extended)
        _ = agent.roundReceived(current.payload, signature: current.signature, now: 1061)
        #expect(agent.roundReceived(first.payload, signature: first.signature, now: 1061).first.map { "\($0)".contains("a replay") } == true)
        #expect(agent.round?.revision == 1)
        // Round 1 closes; the agent holds round 2's model; round 1's signed model comes back.
        for name in ["a1", "a2", "a3"] {
            _ = aggregator.receive(agent: name, round: 1, payload: Fixture.update(aggregator, agent: name), now: 1070)
        }
        #expect(aggregator.model.round == 1)
        _ = agent.modelReceived(aggregator.modelBytes, signature: signedModel(aggregator.modelBytes), now: 1071)
        #expect(agent.model?.round == 1)
        let replay = agent.modelReceived(firstModel, signature: signedModel(firstModel), now: 1071)
        #expect(replay.first.map { "\($0)".contains("a replay") } == true, "\(replay)")
        #expect(agent.model?.round == 1)
    }
}
