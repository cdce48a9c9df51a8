import FedMQCore
import FedMQProtocol
import Foundation
import Testing

@Suite("Aggregator round state machine")
struct AggregatorStateMachineTests {
    @Test("the round closes at the target count with the example-weighted average")
    func closesAtTarget() throws {
        var machine = Fixture.machine()
        #expect(machine.startActions(fresh: true).count == 3)
        let first = machine.announcement
        _ = machine.receive(agent: "a1", round: 1, payload: Fixture.update(machine, agent: "a1", value: 1, examples: 10), now: 1001)
        _ = machine.receive(agent: "a2", round: 1, payload: Fixture.update(machine, agent: "a2", value: 2, examples: 30), now: 1002)
        let actions = machine.receive(agent: "a3", round: 1, payload: Fixture.update(machine, agent: "a3", value: 3, examples: 60), now: 1003)
        // (1*10 + 2*30 + 3*60) / 100 = 2.5
        #expect(machine.model.parameters.tensors.allSatisfy { $0.values.allSatisfy { abs($0 - 2.5) < 1e-5 } })
        #expect(machine.model.round == 1)
        #expect(machine.announcement.round == 2)
        #expect(machine.announcement.baseModelSHA256 == machine.model.sha256)
        #expect(machine.announcement.baseModelSHA256 != first.baseModelSHA256)
        let kinds = actions.map { action -> String in
            switch action {
            case .spool: "spool"
            case .checkpoint: "checkpoint"
            case .publishModel: "model"
            case .publishRound: "round"
            case .publishMetrics: "metrics"
            default: "other"
            }
        }
        #expect(kinds == ["spool", "checkpoint", "model", "round", "metrics"])
        let metrics = try #require(actions.metrics)
        #expect(metrics.participants == ["a1", "a2", "a3"])
        #expect(metrics.examples == 100)
        #expect(metrics.durationSeconds == 3)
    }

    @Test("at the deadline: closes with the quorum, else extends and says so")
    func deadline() throws {
        var machine = Fixture.machine()
        #expect(machine.tick(now: 1059).isEmpty)
        _ = machine.receive(agent: "a1", round: 1, payload: Fixture.update(machine, agent: "a1"), now: 1010)
        let extended = machine.tick(now: 1060)
        #expect(extended.contains(.extended(round: 1, accepted: 1, deadline: 1090)))
        #expect(machine.announcement.extensions == 1)
        #expect(machine.announcement.round == 1)
        _ = machine.receive(agent: "a2", round: 1, payload: Fixture.update(machine, agent: "a2"), now: 1070)
        #expect(machine.tick(now: 1089).isEmpty)
        let closed = machine.tick(now: 1090)
        let metrics = try #require(closed.metrics)
        #expect(metrics.updates == 2)
        #expect(metrics.deadlineExtensions == 1)
        #expect(machine.announcement.round == 2)
        #expect(machine.announcement.deadline == 1150)
    }

    @Test("after the last round the job finishes and refuses further updates")
    func finishes() {
        var policy = Fixture.policy
        policy.rounds = 1
        var machine = Fixture.machine(policy: policy)
        for agent in ["a1", "a2"] { _ = machine.receive(agent: agent, round: 1, payload: Fixture.update(machine, agent: agent), now: 1001) }
        let last = machine.receive(agent: "a3", round: 1, payload: Fixture.update(machine, agent: "a3"), now: 1002)
        #expect(last.last == .finished)
        #expect(machine.finished)
        #expect(machine.receive(agent: "a4", round: 1, payload: Fixture.update(machine, agent: "a4"), now: 1003).rejections == [.closedRound])
        #expect(machine.tick(now: 5000).isEmpty)
    }

    @Test("resuming from a checkpoint and the spool counts each accepted update exactly once")
    func resume() throws {
        var machine = Fixture.machine()
        var spool: [(agent: String, payload: [UInt8])] = []
        var checkpoint: AggregatorCheckpoint?
        var model: [UInt8] = []
        for action in machine.startActions(fresh: true) {
            if case .checkpoint(let saved, let bytes) = action { (checkpoint, model) = (saved, bytes) }
        }
        for agent in ["a1", "a2"] {
            for action in machine.receive(agent: agent, round: 1, payload: Fixture.update(machine, agent: agent, value: 1), now: 1001) {
                if case .spool(_, let who, let payload, _) = action { spool.append((who, payload)) }
            }
        }
        var resumed = try AggregatorStateMachine(
            job: Fixture.job, policy: Fixture.policy, checkpoint: try #require(checkpoint), modelBytes: model, spooled: spool)
        #expect(resumed.acceptedAgents == ["a1", "a2"])
        // Killed after spooling the target but before closing: the first tick closes the round.
        var full = try AggregatorStateMachine(
            job: Fixture.job, policy: Fixture.policy, checkpoint: try #require(checkpoint), modelBytes: model,
            spooled: spool + [("a3", Fixture.update(machine, agent: "a3", value: 1))])
        #expect(full.tick(now: 1002).metrics?.participants == ["a1", "a2", "a3"])
        // Republished after the restart, the round names whose updates are held.
        var republished = machine.announcement
        republished.received = ["a1", "a2"]
        #expect(resumed.startActions(fresh: false).contains(.publishRound(republished)))
        #expect(resumed.receive(agent: "a1", round: 1, payload: spool[0].payload, now: 1002).rejections == [.duplicate])
        let closing = resumed.receive(agent: "a3", round: 1, payload: Fixture.update(resumed, agent: "a3", value: 1), now: 1003)
        #expect(closing.metrics?.participants == ["a1", "a2", "a3"])
        #expect(resumed.model.parameters.tensors.allSatisfy { $0.values.allSatisfy { abs($0 - 1) < 1e-6 } })
        #expect(throws: ProtocolError.self) {
            try AggregatorStateMachine(
                job: Fixture.job, policy: Fixture.policy, checkpoint: checkpoint!, modelBytes: resumed.modelBytes, spooled: [])
        }
    }

    @Test("bad policies are refused")
    func policies() {
        var policy = Fixture.policy
        policy.minUpdates = 5
        #expect(throws: ProtocolError.invalidConfiguration("need 1 <= min_updates <= target_updates")) { try policy.validate() }
        policy = Fixture.policy
        policy.allowedAgents = ["ok", "not ok"]
        #expect(throws: ProtocolError.self) { try policy.validate() }
    }
}

@Suite("Configured strategies in rounds")
struct ConfiguredStrategyTests {
    @Test("a median job ignores one wild update; DP with a robust strategy is refused")
    func median() throws {
        var policy = Fixture.policy
        policy.strategy = StrategyConfig(name: "median")
        var machine = Fixture.machine(policy: policy)
        _ = machine.receive(agent: "a1", round: 1, payload: Fixture.update(machine, agent: "a1", value: 0.1), now: 1001)
        _ = machine.receive(agent: "a2", round: 1, payload: Fixture.update(machine, agent: "a2", value: 0.2), now: 1001)
        _ = machine.receive(agent: "a3", round: 1, payload: Fixture.update(machine, agent: "a3", value: 3), now: 1001)
        #expect(machine.model.parameters.tensors.allSatisfy { $0.values.allSatisfy { abs($0 - 0.2) < 1e-6 } })
        policy.privacy = ClientPrivacy(mode: .central, clipNorm: 1, noiseMultiplier: 1)
        policy.weighting = .uniform
        #expect(throws: ProtocolError.self) { try policy.validate() }
        policy.strategy = StrategyConfig(name: "magic")
        #expect(throws: ProtocolError.self) { try policy.validate() }
    }

    @Test("an update lost between delivery and spool is sent again by its agent when the restarted aggregator does not list it")
    func lostUpdateIsResent() throws {
        var machine = Fixture.machine()
        var checkpoint: AggregatorCheckpoint?
        var model: [UInt8] = []
        for action in machine.startActions(fresh: true) {
            if case .checkpoint(let saved, let bytes) = action { (checkpoint, model) = (saved, bytes) }
        }
        var agents = try ["a1", "a2"].map { try AgentStateMachine(agent: $0, job: Fixture.job, lastServedRound: 0) }
        var spool: [(agent: String, payload: [UInt8])] = []
        for index in agents.indices {
            _ = agents[index].modelReceived(machine.modelBytes, now: 1001)
            _ = agents[index].roundReceived(ProtocolJSON.encode(machine.announcement), now: 1001)
            var trained = Fixture.initial
            try trained.add(Fixture.delta(Float(index + 1)))
            for case .publishUpdate(_, let payload, _, _) in agents[index].trainingFinished(round: 1, trained: trained, examples: 10, now: 1002) {
                // a1's update is spooled; a2's is acknowledged by the MQTT client, then the aggregator dies.
                if index == 0 {
                    _ = machine.receive(agent: "a1", round: 1, payload: payload, now: 1003)
                    spool.append(("a1", payload))
                }
            }
        }
        var resumed = try AggregatorStateMachine(
            job: Fixture.job, policy: Fixture.policy, checkpoint: try #require(checkpoint), modelBytes: model, spooled: spool)
        let round = try #require(resumed.startActions(fresh: false).compactMap { if case .publishRound(let r) = $0 { r } else { nil } }.first)
        #expect(round.received == ["a1"])
        #expect(agents[0].roundReceived(ProtocolJSON.encode(round), now: 1010).allSatisfy { if case .publishUpdate = $0 { false } else { true } })
        let resent = agents[1].roundReceived(ProtocolJSON.encode(round), now: 1010)
        guard case .publishUpdate(let topic, let payload, _, _) = resent.last else {
            Issue.record("a2 should send its update again, got \(resent)")
            return
        }
        #expect(topic == "fedmq/v1/job1/round/1/update/a2")
        #expect(payload == agents[1].lastUpdate?.payload)
        #expect(resumed.receive(agent: "a2", round: 1, payload: payload, now: 1011).spooled == 1)
        #expect(resumed.acceptedAgents == ["a1", "a2"])
        // A fresh start announces no list, so nobody resends.
        #expect(Fixture.machine().startActions(fresh: true).contains { if case .publishRound(let r) = $0 { r.received == nil } else { false } })
    }

    @Test("a server optimizer's moments survive a restart: the resumed aggregator's next model equals the uninterrupted one's")
    func optimizerStateSurvivesRestart() throws {
        var policy = Fixture.policy
        policy.rounds = 5
        policy.strategy = StrategyConfig(name: "fedadam", learningRate: 0.1)
        var machine = Fixture.machine(policy: policy)
        var checkpoint: AggregatorCheckpoint?
        var model: [UInt8] = []
        for round in 1...2 {
            for (index, agent) in ["a1", "a2", "a3"].enumerated() {
                for action in machine.receive(
                    agent: agent, round: round, payload: Fixture.update(machine, agent: agent, value: Float(index + round) * 0.1), now: 1001)
                {
                    if case .checkpoint(let saved, let bytes) = action { (checkpoint, model) = (saved, bytes) }
                }
            }
        }
        let saved = try #require(checkpoint)
        #expect(saved.strategyState?["m"]?.count == Fixture.initial.count)
        // Through JSON, as the store keeps it.
        let restored = try JSONDecoder().decode(AggregatorCheckpoint.self, from: Data(ProtocolJSON.encode(saved)))
        var resumed = try AggregatorStateMachine(job: Fixture.job, policy: policy, checkpoint: restored, modelBytes: model, spooled: [])
        for (index, agent) in ["a1", "a2", "a3"].enumerated() {
            let update = Fixture.update(machine, agent: agent, value: Float(index) * -0.2)
            _ = machine.receive(agent: agent, round: 3, payload: update, now: 1002)
            _ = resumed.receive(agent: agent, round: 3, payload: update, now: 1002)
        }
        #expect(resumed.model.round == 3)
        #expect(resumed.model.parameters == machine.model.parameters)
    }
}
