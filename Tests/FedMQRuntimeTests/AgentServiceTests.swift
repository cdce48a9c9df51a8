import FedMQCore
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation
import Testing

/// What agents decide for themselves, through the services: refusing past their privacy
/// budget, and staying out of rounds that did not select them.
@Suite("Agent decisions through the services", .timeLimit(.minutes(1)))
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
