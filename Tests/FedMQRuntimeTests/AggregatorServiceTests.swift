import FedMQCore
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation
import Testing

/// The aggregator and agent runtimes as services on the in-memory broker: whole jobs, crashes
/// and restarts, in a few milliseconds each and without a sleep.
@Suite("Runtimes as services on an in-memory broker", .hangGuard)
struct AggregatorServiceTests {
    /// Each agent's flattened delta and example count, from an update's bytes.
    static func delta(_ payload: [UInt8], like model: GlobalModel) throws -> (values: [Float], examples: Int) {
        let file = try SafetensorsDecoder.decode(payload)
        let delta = try ModelCodec.delta(of: file, like: model.parameters)
        return (delta.tensors.flatMap(\.values), Int(file.metadata[ModelCodec.Key.examples] ?? "") ?? -1)
    }

    @Test("a job runs every round to the end; the final model is the example-weighted mean of the last round's updates")
    func jobRunsToTheEnd() async throws {
        let fleet = try RuntimeFleet()
        let observed = try await fleet.observe([fleet.topics.globalModel, fleet.topics.allUpdates])
        let aggregator = fleet.aggregator(fleet.aggregatorConfig(policy: fleet.policy(rounds: 2, target: 3, minimum: 3)))
        let agents = try (0..<3).map { fleet.agent(try fleet.agentConfig($0)) }
        try await aggregator.finished()

        var models: [String: GlobalModel] = [:]
        var updates: [(round: Int, agent: String, payload: [UInt8], base: String)] = []
        _ = try await observed.first { message -> GlobalModel? in
            if message.topic == fleet.topics.globalModel {
                let model = try ModelCodec.decodeModel(message.payload)
                models[model.sha256] = model
                return model.round == 2 ? model : nil
            }
            let metadata = try SafetensorsDecoder.decode(message.payload).metadata
            updates.append(
                (
                    Int(metadata[ModelCodec.Key.round] ?? "") ?? 0, metadata[ModelCodec.Key.agent] ?? "", message.payload,
                    metadata[ModelCodec.Key.baseSHA256] ?? ""
                ))
            return nil
        }
        let metrics = try fleet.metricsLog()
        #expect(metrics.map(\.round) == [1, 2])
        #expect(metrics.allSatisfy { $0.participants == ["a0", "a1", "a2"] && $0.updates == 3 })
        let final = try #require(models.values.first { $0.round == 2 })
        #expect(final.sha256 == metrics.last?.modelSHA256)

        // FedAvg by hand from the bytes the agents published in round 2.
        let lastRound = updates.filter { $0.round == 2 }
        #expect(lastRound.map(\.agent).sorted() == ["a0", "a1", "a2"])
        let baseSHA = try #require(lastRound.first?.base)
        let base = try #require(models[baseSHA])
        #expect(base.round == 1)
        let deltas = try lastRound.map { try Self.delta($0.payload, like: base) }
        let total = Double(deltas.map(\.examples).reduce(0, +))
        let expected = base.parameters.tensors.flatMap(\.values).enumerated().map { index, value in
            Double(value) + deltas.reduce(0.0) { $0 + Double($1.values[index]) * Double($1.examples) } / total
        }
        let actual = final.parameters.tensors.flatMap(\.values)
        #expect(actual.count == expected.count)
        #expect(zip(actual, expected).allSatisfy { abs(Double($0) - $1) < 1e-5 }, "\(actual) vs \(expected)")
        #expect(deltas.contains { $0.values.contains { $0 != 0 } }, "the agents trained")

        let finished = try fleet.retained(AggregatorStatus.self, on: fleet.topics.aggregatorStatus)
        #expect(finished?.state == .finished && finished?.round == 2)
        for (index, agent) in agents.enumerated() {
            try await agent.stop()
            let status = try fleet.retained(AgentStatus.self, on: fleet.topics.status(agent: "a\(index)"))
            #expect(status?.state == .offline && status?.lastRound == 2, "a\(index): \(String(describing: status))")
        }
    }

    @Test("an aggregator killed mid-round resumes it from its spool; the agent whose update was lost sends the same bytes again")
    func crashResumeAndResend() async throws {
        let fleet = try RuntimeFleet()
        let updates = try await fleet.observe([fleet.topics.allUpdates])
        let config = fleet.aggregatorConfig(policy: fleet.policy(rounds: 1, target: 3, minimum: 3))
        let first = fleet.aggregator(config)
        let early = try (0..<2).map { fleet.agent(try fleet.agentConfig($0)) }
        await fleet.logs.wait(for: 2, from: "aggregator", containing: "accepted update")
        await first.kill(clientID: fleet.aggregatorClientID, on: fleet.broker)
        #expect(try fleet.retained(AggregatorStatus.self, on: fleet.topics.aggregatorStatus)?.state == .offline, "the last will")

        // a2 trains and publishes while no aggregator listens: its update is lost.
        let late = fleet.agent(try fleet.agentConfig(2))
        let lost = try await updates.first { $0.topic == fleet.topics.update(round: 1, agent: "a2") ? $0.payload : nil }
        #expect(!fleet.broker.isOnline(clientID: fleet.aggregatorClientID))

        let second = fleet.aggregator(config)
        let resent = try await updates.first { $0.topic == fleet.topics.update(round: 1, agent: "a2") ? $0.payload : nil }
        try await second.finished()
        #expect(resent == lost, "the kept bytes, not a new training run")
        #expect(fleet.logs.lines(from: "aggregator", containing: "resumed round 1").count == 1)
        #expect(fleet.logs.lines(from: "aggregator", containing: "with 2 spooled update(s)").count == 1)
        let metrics = try fleet.metricsLog()
        #expect(metrics.map(\.round) == [1])
        #expect(metrics.first?.participants == ["a0", "a1", "a2"])
        #expect(metrics.first?.updates == 3, "each update counted once")
        for agent in early + [late] { try await agent.stop() }
        #expect(fleet.logs.lines(from: "a0", containing: "sending it again").isEmpty, "a0's update was spooled before the crash")
    }
}
