import FedMQCore
import FedMQProtocol
import Testing

@Suite("Agent state machine")
struct AgentStateMachineTests {
    let aggregator = Fixture.machine()
    var roundPayload: [UInt8] { ProtocolJSON.encode(aggregator.announcement) }

    func trainAction(_ actions: [AgentAction]) -> (round: Int, base: GlobalModel)? {
        for case .train(let round, let base, _) in actions { return (round, base) }
        return nil
    }

    @Test("a round that opens before the model arrives waits for the model")
    func waitsForModel() throws {
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0)
        let early = agent.roundReceived(roundPayload, now: 1001)
        #expect(trainAction(early) == nil)
        #expect(early == [.ignored("round 1 waits for model \(aggregator.model.sha256.prefix(12))")])
        let started = agent.modelReceived(aggregator.modelBytes, now: 1002)
        #expect(trainAction(started)?.round == 1)
        #expect(agent.trainingRound == 1)
        #expect(agent.status(now: 1002).state == .training)
    }

    @Test("without the job's model and round an agent says so once a minute; once both came it says nothing")
    func waitingNotice() throws {
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0)
        #expect(agent.tick(now: 1000).isEmpty)
        #expect(agent.tick(now: 1059).isEmpty)
        let first = agent.tick(now: 1060)
        #expect(
            first.count == 1 && { if case .warning(let text) = first[0] { text.contains("no global model and round announcement") } else { false } }()
        )
        #expect(agent.tick(now: 1100).isEmpty, "once a minute")
        _ = agent.modelReceived(aggregator.modelBytes, now: 1101)
        let modelOnly = agent.tick(now: 1120)
        #expect(modelOnly.count == 1 && { if case .warning(let text) = modelOnly[0] { text.hasPrefix("no round announcement") } else { false } }())
        _ = agent.roundReceived(roundPayload, now: 1121)
        #expect(agent.tick(now: 5000).isEmpty)
    }

    @Test("a round given up sets last_error in the status; the next update sent clears it")
    func lastError() throws {
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0)
        _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
        _ = agent.roundReceived(roundPayload, now: 1001)
        let failed = agent.trainingFailed(round: 1, reason: "bad data", now: 1002)
        #expect(failed.first == .refused(round: 1, reason: "training failed: bad data"))
        guard case .publishStatus(let status) = failed.last else {
            Issue.record("expected a status, got \(failed)")
            return
        }
        #expect(status.lastError == "round 1: training failed: bad data")
        let encoded = ProtocolJSON.encode(status)
        #expect(String(decoding: encoded, as: UTF8.self).contains(#""last_error":"round 1: training failed: bad data""#))
        #expect(try ProtocolJSON.decode(AgentStatus.self, from: encoded).lastError == status.lastError)

        // Round 2 opens; this time training works.
        var announcement = aggregator.announcement
        announcement.round = 2
        _ = agent.roundReceived(ProtocolJSON.encode(announcement), now: 1003)
        let sent = agent.trainingFinished(round: 2, trained: Fixture.initial, examples: 4, now: 1004)
        #expect(sent.contains { if case .publishUpdate = $0 { true } else { false } })
        #expect(agent.status(now: 1005).lastError == nil)
    }

    @Test("after training: record the round as served, then publish a clipped update that validates")
    func publishesOnce() throws {
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0)
        _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
        _ = agent.roundReceived(roundPayload, now: 1001)
        var trained = Fixture.initial
        try trained.add(Fixture.delta(50))  // far beyond the norm bound of 10
        let actions = agent.trainingFinished(round: 1, trained: trained, examples: 12, now: 1010)
        #expect({ if case .recordServed(1, nil, _, nil) = actions.first { true } else { false } }())
        guard case .publishUpdate(let topic, let payload, let expiry, nil) = actions[1] else {
            Issue.record("expected a publish, got \(actions)")
            return
        }
        #expect(topic == "fedmq/v1/job1/round/1/update/a1")
        #expect(expiry == 50)
        let file = try SafetensorsDecoder.decode(payload)
        #expect(abs(try file.parameters(orderedAs: ["W", "b"]).l2Norm - 10) < 1e-4)
        var machine = aggregator
        #expect(machine.receive(agent: "a1", round: 1, payload: payload, now: 1011).spooled == 1)
        #expect(agent.lastServedRound == 1)
        #expect(trainAction(agent.roundReceived(roundPayload, now: 1012)) == nil)

        // A restarted agent that recorded round 1 never trains (or publishes) for it again.
        var restarted = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 1)
        _ = restarted.modelReceived(aggregator.modelBytes, now: 1013)
        #expect(restarted.roundReceived(roundPayload, now: 1013) == [.ignored("round 1 is already served")])

        // One that kept its update (killed after recording the round, perhaps before the publish
        // was acknowledged) sends it again at the first announcement of that round, once.
        let kept = SentUpdate(round: 1, payload: payload, signature: nil)
        var resumed = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 1, lastUpdate: kept)
        _ = resumed.modelReceived(aggregator.modelBytes, now: 1013)
        let resent = resumed.roundReceived(roundPayload, now: 1013)
        #expect(resent.contains(.publishUpdate(topic: topic, payload: payload, expirySeconds: 47, signature: nil)), "\(resent)")
        #expect(resumed.roundReceived(roundPayload, now: 1014) == [.ignored("round 1 is already served")])
    }

    @Test("rounds past their deadline, foreign jobs and garbage are ignored with a reason")
    func ignores() throws {
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0)
        _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
        #expect(agent.roundReceived(roundPayload, now: 2000) == [.ignored("round 1 is past its deadline")])
        if case .ignored(let reason) = agent.roundReceived(Array("{".utf8), now: 1001).first {
            #expect(reason.hasPrefix("round announcement refused"))
        } else {
            Issue.record("garbage round accepted")
        }
        if case .ignored(let reason) = agent.modelReceived([1, 2, 3], now: 1001).first {
            #expect(reason.hasPrefix("global model refused"))
        } else {
            Issue.record("garbage model accepted")
        }
        #expect(agent.model == aggregator.model)
    }

    @Test("a round that closes while training is dropped and the next one starts")
    func roundClosedWhileTraining() throws {
        var aggregator = aggregator
        var agent = try AgentStateMachine(agent: "a9", job: Fixture.job, lastServedRound: 0)
        _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
        _ = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1001)
        for name in ["a1", "a2", "a3"] {
            _ = aggregator.receive(agent: name, round: 1, payload: Fixture.update(aggregator, agent: name), now: 1002)
        }
        _ = agent.modelReceived(aggregator.modelBytes, now: 1003)
        _ = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1003)
        let actions = agent.trainingFinished(round: 1, trained: Fixture.initial, examples: 5, now: 1004)
        #expect(actions.first == .ignored("round 1 closed while training"))
        #expect(trainAction(actions)?.round == 2)
    }
}
