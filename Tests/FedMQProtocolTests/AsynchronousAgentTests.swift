import FedMQCore
import FedMQProtocol
import Testing

@Suite("Agents in asynchronous jobs, and their owners' pacing")
struct AsynchronousAgentTests {
    func trained(_ actions: [AgentAction]) -> (round: Int, base: GlobalModel)? {
        for case .train(let round, let base, _) in actions { return (round, base) }
        return nil
    }

    func published(_ actions: [AgentAction]) -> (topic: String, payload: [UInt8], expiry: UInt32)? {
        for case .publishUpdate(let topic, let payload, let expiry, _) in actions { return (topic, payload, expiry) }
        return nil
    }

    @Test(
        "an update finished after newer versions came still goes out, against the model it was trained on; the next training waits for a newer round")
    func staleTrainingStillCounts() throws {
        var aggregator = try BufferedAggregatorTests.machine()
        var agent = try AgentStateMachine(agent: "slow", job: Fixture.job, lastServedRound: 0)
        _ = agent.modelReceived(aggregator.modelBytes, now: 1000)
        let start = try #require(trained(agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1000)))
        #expect(start.round == 1)

        // Two versions are published while it trains (far past the round's deadline, which an asynchronous job does not use).
        for round in 1...2 {
            for agent in ["f\(round)a", "f\(round)b"] {
                _ = aggregator.receive(
                    agent: agent, round: round,
                    payload: BufferedAggregatorTests.update(agent: agent, round: round, base: aggregator.model.sha256, value: 0.1), signature: nil,
                    now: 1001)
            }
            _ = agent.modelReceived(aggregator.modelBytes, now: 5000)
            _ = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 5000)
        }
        var trainedModel = start.base.parameters
        try trainedModel.add(Fixture.delta(0.5))
        let finished = agent.trainingFinished(round: 1, trained: trainedModel, examples: 10, now: 5001)
        let update = try #require(published(finished))
        #expect(update.topic == Topics.forTests.update(round: 1, agent: "slow"))
        #expect(update.expiry == 3600, "update_expiry_seconds, not the round's deadline")
        let file = try SafetensorsDecoder.decode(update.payload)
        #expect(file.metadata[ModelCodec.Key.baseSHA256] == start.base.sha256)
        let delta = try ModelCodec.delta(of: file, like: start.base.parameters)
        #expect(delta.tensors.allSatisfy { $0.values.allSatisfy { abs($0 - 0.5) < 1e-6 } }, "taken against version 0, not the newest")
        #expect(trained(finished) == nil, "its update goes into round 3's buffer: it waits for round 4")

        // The aggregator counts it two versions late, weighted 1/3.
        let counted = aggregator.receive(agent: "slow", round: 1, payload: update.payload, signature: nil, now: 5002)
        #expect(counted.rejections.isEmpty && aggregator.acceptedAgents == ["slow"])
        _ = aggregator.receive(
            agent: "f3", round: 3, payload: BufferedAggregatorTests.update(agent: "f3", round: 3, base: aggregator.model.sha256, value: 0.1),
            signature: nil, now: 5003)
        let next =
            agent.modelReceived(aggregator.modelBytes, now: 5004) + agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 5004)
        #expect(trained(next)?.round == 4)
    }

    @Test(
        "a restarted agent remembers which buffer its kept update went to: it resends it when that round is republished without it, and trains only on a newer round"
    )
    func restartRemembersBuffer() throws {
        var aggregator = try BufferedAggregatorTests.machine()
        var agent = try AgentStateMachine(agent: "late", job: Fixture.job, lastServedRound: 0)
        _ = agent.modelReceived(aggregator.modelBytes, now: 1000)
        let start = try #require(trained(agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1000)))
        // Version 1 comes out while it trains: its round-1 update goes into round 2's buffer.
        for other in ["o1", "o2"] {
            _ = aggregator.receive(
                agent: other, round: 1, payload: BufferedAggregatorTests.update(agent: other, round: 1, base: aggregator.model.sha256, value: 0.1),
                signature: nil, now: 1001)
        }
        _ = agent.modelReceived(aggregator.modelBytes, now: 1002)
        _ = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1002)
        let finished = agent.trainingFinished(round: 1, trained: start.base.parameters, examples: 10, now: 1003)
        let sent = try #require(agent.lastUpdate)
        #expect(published(finished) != nil && sent.round == 1 && sent.publishedDuring == 2)

        // The device restarts with what its runtime kept; the aggregator restarted without the update.
        var restarted = try AgentStateMachine(agent: "late", job: Fixture.job, lastServedRound: 1, lastUpdate: sent)
        _ = restarted.modelReceived(aggregator.modelBytes, now: 1004)
        var republished = aggregator.announcement
        republished.received = []
        let resent = restarted.roundReceived(ProtocolJSON.encode(republished), now: 1004)
        #expect(published(resent)?.payload == sent.payload, "the same bytes into round 2's buffer")
        republished.received = ["late"]
        republished.revision = 1
        #expect(trained(restarted.roundReceived(ProtocolJSON.encode(republished), now: 1005)) == nil, "round 2 holds its update")
        #expect(aggregator.receive(agent: "late", round: 1, payload: sent.payload, signature: nil, now: 1006).rejections.isEmpty)
        _ = aggregator.receive(
            agent: "o3", round: 2, payload: BufferedAggregatorTests.update(agent: "o3", round: 2, base: aggregator.model.sha256, value: 0.1),
            signature: nil, now: 1007)
        let next =
            restarted.modelReceived(aggregator.modelBytes, now: 1008)
            + restarted.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1008)
        #expect(trained(next)?.round == 3)
    }

    @Test("training past max_staleness is dropped, not sent")
    func tooStaleIsDropped() throws {
        var aggregator = try BufferedAggregatorTests.machine()
        var agent = try AgentStateMachine(agent: "slow", job: Fixture.job, lastServedRound: 0)
        _ = agent.modelReceived(aggregator.modelBytes, now: 1000)
        let start = try #require(trained(agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1000)))
        for round in 1...3 {
            for agent in ["f\(round)a", "f\(round)b"] {
                _ = aggregator.receive(
                    agent: agent, round: round,
                    payload: BufferedAggregatorTests.update(agent: agent, round: round, base: aggregator.model.sha256, value: 0.1), signature: nil,
                    now: 1001)
            }
        }
        _ = agent.modelReceived(aggregator.modelBytes, now: 1002)
        _ = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1002)
        let finished = agent.trainingFinished(round: 1, trained: start.base.parameters, examples: 10, now: 1003)
        #expect(published(finished) == nil)
        #expect(finished.first == .ignored("round 1 closed while training"))
        #expect(trained(finished)?.round == 4)
    }

    @Test("pacing: the next version waits for the minimum interval and the hourly limit, and starts on the tick that ends the wait")
    func pacing() throws {
        var aggregator = try BufferedAggregatorTests.machine()
        let pacing = AgentPacing(minIntervalSeconds: 100, maxPerHour: 2)
        var agent = try AgentStateMachine(agent: "paced", job: Fixture.job, lastServedRound: 0, pacing: pacing)
        var now = 1000.0
        var publishTimes: [Double] = []
        _ = agent.modelReceived(aggregator.modelBytes, now: now)
        var pending = trained(agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: now))
        while publishTimes.count < 3 {
            if let (round, base) = pending {
                let finished = agent.trainingFinished(round: round, trained: base.parameters, examples: 10, now: now)
                if let update = published(finished) {
                    publishTimes.append(now)
                    _ = aggregator.receive(agent: "paced", round: round, payload: update.payload, signature: nil, now: now)
                    // Someone else fills the buffer: a new version at once.
                    _ = aggregator.receive(
                        agent: "other\(round)", round: aggregator.announcement.round,
                        payload: BufferedAggregatorTests.update(
                            agent: "other\(round)", round: aggregator.announcement.round, base: aggregator.model.sha256, value: 0.1),
                        signature: nil, now: now)
                }
                pending = trained(finished)
                #expect(pending == nil, "no version starts right after a publish")
                pending = trained(
                    agent.modelReceived(aggregator.modelBytes, now: now) + agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: now)
                )
                #expect(pending == nil, "nor when the next one arrives")
            }
            now += 10
            pending = pending ?? trained(agent.tick(now: now))
        }
        #expect(publishTimes == [1000, 1100, 4600], "100 s apart, then the hour's two are spent until 1000 + 3600")
        #expect(agent.pacing.recent == [1100, 4600], "the hourly limit of 2 looks at the last two only")
    }

    @Test("pacing limits count the last hour and day only")
    func pacingWindows() {
        var pacing = AgentPacing(minIntervalSeconds: 0, maxPerHour: 1, maxPerDay: 2)
        #expect(pacing.nextAllowed(now: 0) == nil)
        pacing.record(0)
        #expect(pacing.nextAllowed(now: 10) == 3600)
        pacing.record(3600)
        #expect(pacing.nextAllowed(now: 7200) == 86400, "two in the day")
        #expect(pacing.nextAllowed(now: 86400) == nil)
        #expect(throws: ProtocolError.self) { try AgentPacing(maxPerHour: 0).validate() }
        #expect(throws: ProtocolError.self) { try AgentPacing(minIntervalSeconds: -1).validate() }
    }

    @Test("pacing keeps only the publish times its limits look at, and decides as if it kept them all")
    func pacingKeepsWhatItNeeds() {
        var unlimited = AgentPacing(minIntervalSeconds: 5)
        for second in stride(from: 0.0, to: 10_000, by: 5) { unlimited.record(second) }
        #expect(unlimited.recent == [9995])
        #expect(unlimited.nextAllowed(now: 9996) == 10_000)
        var random = SplitMix64(seed: 3)
        var limited = AgentPacing(maxPerHour: 3, maxPerDay: 7)
        var all: [Double] = []
        var now = 0.0
        for _ in 0..<500 {
            now += Double(random.next() % 4000)
            // The decision with every time of the last day kept, by the same rule.
            var reference = 0.0
            for (limit, window) in [(3, 3600.0), (7, 86400.0)] {
                let inWindow = all.filter { $0 > now - window }
                if inWindow.count >= limit { reference = max(reference, inWindow[inWindow.count - limit] + window) }
            }
            #expect(limited.nextAllowed(now: now) == (reference > now ? reference : nil))
            if limited.nextAllowed(now: now) == nil {
                limited.record(now)
                all.append(now)
            }
            #expect(limited.recent.count <= 7)
        }
        #expect(AgentPacing(maxPerHour: 2, recent: [1, 2, 3, 4]).recent == [3, 4])
    }
}

extension Topics {
    static let forTests = try! Topics(job: Fixture.job)
}
