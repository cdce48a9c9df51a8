import FedMQAgent
import FedMQCore
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation
import Testing

/// What agents decide for themselves, through the services: refusing past their privacy
/// budget, and staying out of rounds that did not select them.
@Suite("Agent decisions through the services", .hangGuard)
struct AgentServiceTests {
    @Test("an agent whose budget one round would exceed refuses it; the round closes at its deadline with the quorum")
    func budgetRefusal() async throws {
        let fleet = try RuntimeFleet()
        let updates = try await fleet.observe([fleet.topics.allUpdates])
        var policy = fleet.policy(rounds: 1, target: 3, minimum: 2)
        policy.privacy = ClientPrivacy(mode: .local, clipNorm: 1, noiseMultiplier: 1)
        policy.weighting = .uniform
        let aggregator = fleet.aggregator(fleet.aggregatorConfig(policy: policy))
        var frugal = try fleet.agentConfig(2)
        frugal.privacyBudget = PrivacyBudget(epsilon: 0.5, delta: 1e-5)
        let agents = try [fleet.agent(fleet.agentConfig(0)), fleet.agent(fleet.agentConfig(1)), fleet.agent(frugal)]

        await fleet.logs.wait(for: 2, from: "aggregator", containing: "accepted update")
        await fleet.logs.wait(from: "a2", containing: "round 1 refused: epsilon would reach")
        #expect(try fleet.retained(AgentStatus.self, on: fleet.topics.status(agent: "a2"))?.state == .budgetExhausted)
        #expect(try fleet.metricsLog().isEmpty, "the round waits for its target until the deadline")

        fleet.clock.advance(by: policy.roundSeconds + 1)
        try await aggregator.finished()
        let metrics = try #require(try fleet.metricsLog().first)
        #expect(metrics.participants == ["a0", "a1"])
        #expect(metrics.epsilon.map { $0 > 0.5 } == true, "one round costs more than a2's budget: \(String(describing: metrics.epsilon))")
        for agent in agents { try await agent.stop() }
        // a2 never published: the only updates are a0's and a1's.
        updates.cancel()
        var senders: [String] = []
        for await message in updates { senders.append(message.topic) }
        #expect(senders.sorted() == [fleet.topics.update(round: 1, agent: "a0"), fleet.topics.update(round: 1, agent: "a1")])
    }

    @Test("a round that trains quickly publishes no training status; one that trains past training_status_after_seconds does, before its idle status")
    func trainingStatusHeldBack() async throws {
        let fleet = try RuntimeFleet()
        let statuses = try await fleet.observe([fleet.topics.status(agent: "a0")])
        let (entered, enteredSignal) = AsyncStream.makeStream(of: Void.self)
        let (gate, opening) = AsyncStream.makeStream(of: Void.self)
        let config = try fleet.agentConfig(0)
        #expect(config.trainingStatusAfterSeconds == 1)
        // Round 1 trains at once; round 2 (its shuffle seed is 1000 * round + seed) until the gate opens.
        let agent = fleet.agent(config) { base, training, data, seed in
            if seed / 1000 == 2 {
                enteredSignal.yield()
                for await _ in gate { break }
            }
            return AgentRuntime.train(base: base, config: training, data: data, seed: seed)
        }
        let aggregator = fleet.aggregator(fleet.aggregatorConfig(policy: fleet.policy(rounds: 2, target: 1, minimum: 1)))
        _ = await entered.first { _ in true }
        var seen: [AgentStatus] = []
        func collect(until done: @escaping (AgentStatus) -> Bool) async throws {
            _ = try await statuses.first { message -> Bool? in
                let status = try ProtocolJSON.decode(AgentStatus.self, from: message.payload)
                seen.append(status)
                return done(status) ? true : nil
            }
        }
        // Round 1 is served and round 2 trains, with no training status so far: none for round 1.
        try await collect { $0.lastRound == 1 }
        fleet.clock.advance(by: config.trainingStatusAfterSeconds)
        try await collect { $0.state == .training }
        opening.yield()
        try await collect { $0.lastRound == 2 }
        try await aggregator.finished()
        try await agent.stop()
        #expect(seen.filter { $0.state == .training }.map(\.lastRound) == [1], "\(seen.map { "\($0.state) \($0.lastRound)" })")
        #expect(seen.suffix(2).map(\.state) == [.training, .idle])
        #expect(seen.allSatisfy { $0.state != .training || $0.time == fleet.clock.now() })
    }

    @Test("with client selection each round's participants are the ones drawn from the agents online, and the draw changes")
    func selection() async throws {
        let fleet = try RuntimeFleet()
        let statuses = try await fleet.observe([fleet.topics.allStatuses])
        let agents = try (0..<4).map { fleet.agent(try fleet.agentConfig($0)) }
        // Every agent is online (its retained status says so) before the aggregator starts,
        // so every round draws from all four.
        var online: Set<String> = []
        _ = try await statuses.first { message -> Bool? in
            online.insert(try ProtocolJSON.decode(AgentStatus.self, from: message.payload).agent)
            return online.count == 4 ? true : nil
        }
        var policy = fleet.policy(rounds: 3, target: 2, minimum: 2)
        let selection = ClientSelection(count: 2, seed: 11)
        policy.selection = selection
        let aggregator = fleet.aggregator(fleet.aggregatorConfig(policy: policy))
        try await aggregator.finished()
        let all: Set = ["a0", "a1", "a2", "a3"]
        let metrics = try fleet.metricsLog()
        #expect(metrics.map(\.round) == [1, 2, 3])
        for round in metrics {
            let drawn = selection.pick(from: all, round: round.round, minimum: 2)
            #expect(round.selected == drawn && round.participants == drawn && round.stragglers == [], "round \(round.round)")
        }
        #expect(Set(metrics.flatMap(\.participants)).count > 2, "the draw changes from round to round")
        for agent in agents { try await agent.stop() }
    }
}

/// Nothing an agent does wrong stays in its own log only.
@Suite("Agents that cannot work say so", .hangGuard)
struct AgentNoticeTests {
    @Test("an agent whose job has no model or round says so every minute, naming the job")
    func waitingForJob() async throws {
        let fleet = try RuntimeFleet(job: "planta")
        let statuses = try await fleet.observe([fleet.topics.status(agent: "a0")])
        let agent = fleet.agent(try fleet.agentConfig(0))
        _ = try await statuses.first { $0 }  // started: the wait is being timed
        #expect(fleet.logs.lines(from: "a0", containing: "no global model").isEmpty)
        fleet.clock.advance(by: 61)
        await fleet.logs.wait(from: "a0", containing: "no global model and round announcement for job 'planta'")
        fleet.clock.advance(by: 60)
        await fleet.logs.wait(for: 2, from: "a0", containing: "no global model and round announcement for job 'planta'")
        let warning = try #require(fleet.logs.lines(from: "a0", containing: "no global model").first)
        #expect(warning.level == .warning)
        #expect(warning.message.contains("is its aggregator running, and is the job name right?"))
        try await agent.stop()
    }

    @Test("training that fails on the local data is in the agent's retained status as last_error, and in the aggregator's view")
    func lastError() async throws {
        let fleet = try RuntimeFleet()
        var config = try fleet.agentConfig(0)
        // Five columns: four features where the model takes three.
        try "1,2,3,4,0\n4,3,2,1,1\n".write(toFile: config.dataCSV, atomically: true, encoding: .utf8)
        config.seed = 3
        let aggregator = fleet.aggregator(fleet.aggregatorConfig(policy: fleet.policy(rounds: 1, target: 1, minimum: 1)))
        let agent = fleet.agent(config)
        await fleet.logs.wait(from: "a0", containing: "round 1 refused: training failed")
        let status = try #require(try fleet.retained(AgentStatus.self, on: fleet.topics.status(agent: "a0")))
        #expect(status.lastError?.hasPrefix("round 1: training failed:") == true, "\(String(describing: status.lastError))")
        #expect(status.state == .idle && status.lastRound == 0)
        try await agent.stop()
        try await aggregator.stop()
    }

    @Test("an agent whose data differ in scale by orders of magnitude, training a model without feature scaling, says so once")
    func unscaledData() async throws {
        let fleet = try RuntimeFleet()
        let config = try fleet.agentConfig(0)
        // x0 in the thousands, x1 in the thousandths: a learning rate for one is wrong for the other.
        let rows = (0..<20).map { "\(1000 + $0 * 37),\(Double($0 % 5) / 1000),\(Double($0 % 3)),\($0 % 2)" }
        try (rows.joined(separator: "\n") + "\n").write(toFile: config.dataCSV, atomically: true, encoding: .utf8)
        let aggregator = fleet.aggregator(fleet.aggregatorConfig(policy: fleet.policy(rounds: 2, target: 1, minimum: 1)))
        let agent = fleet.agent(config)
        try await aggregator.finished()
        try await agent.stop()
        let warnings = fleet.logs.lines(from: "a0", containing: "features differ in scale")
        #expect(warnings.count == 1 && warnings.first?.level == .warning, "\(warnings.map(\.message))")
        #expect(warnings.first?.message.contains("feature 0 around") == true && warnings.first?.message.contains("feature 1 around") == true)
        #expect(try fleet.metricsLog().count == 2)
    }
}
