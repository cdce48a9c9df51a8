import FedMQCore
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation
import Testing

/// A secure-aggregation round through the services: enrolled agents, a signed roster, and an
/// agent that shares its secrets and then is gone before its masked update.
@Suite("Secure rounds through the services", .hangGuard)
struct SecureServiceTests {
    /// The agents whose `stage` message the aggregator took in, by its log.
    static func received(_ stage: SecAggStage, in lines: [LogRecorder.Line]) -> Set<String> {
        Set(
            lines.filter { $0.metadata["source"] == "aggregator" && $0.message == "secure aggregation: received \(stage.rawValue)" }
                .compactMap { $0.metadata["agent"] })
    }

    @Test("an agent that drops out after sharing is unmasked away; the round closes with the three others")
    func dropoutAfterSharing() async throws {
        let fleet = try RuntimeFleet()
        let aggregatorKey = try fleet.enrol(agents: 4)
        var policy = fleet.policy(rounds: 1, target: 4, minimum: 3)
        policy.weighting = .uniform
        let settings = SecureAggregationSettings(dropoutRate: 0.3, quantization: SecAggQuantization(clip: 1, scale: 1_048_576), stageSeconds: 20)
        policy.secureAggregation = settings
        let aggregator = fleet.aggregator(fleet.enrolled(fleet.aggregatorConfig(policy: policy)))
        var agents: [RunningService] = []
        for index in 0..<4 {
            let agent = fleet.enrolled(try fleet.agentConfig(index), index, aggregator: aggregatorKey)
            // a3's training fails, so it shares its secrets but can never send a masked update.
            agents.append(
                index == 3
                    ? fleet.agent(agent, training: { _, _, _, _ in .failure(.invalidTraining("the sensor is unplugged")) })
                    : fleet.agent(agent))
        }

        // Acted on once the aggregator took them in (not when they were published): a3's shares
        // and three masked updates.
        await fleet.logs.wait { lines in Self.received(.shares, in: lines).contains("a3") && Self.received(.masked, in: lines).count == 3 }
        #expect(Self.received(.masked, in: fleet.logs.lines) == ["a0", "a1", "a2"])
        await agents[3].kill(clientID: "a3", on: fleet.broker)
        #expect(try fleet.metricsLog().isEmpty, "the masked stage waits for a3 until its deadline")

        fleet.clock.advance(by: settings.stageSeconds + 1)
        try await aggregator.finished()
        let metrics = try #require(try fleet.metricsLog().first)
        #expect(metrics.participants == ["a0", "a1", "a2"])
        #expect(metrics.secureAggregation?.dropped == ["a3"])
        #expect(metrics.secureAggregation?.failure == nil)
        let model = try ModelCodec.decodeModel(try #require(fleet.broker.retainedMessage(on: fleet.topics.globalModel)).payload)
        #expect(model.round == 1 && model.sha256 == metrics.modelSHA256)
        #expect(fleet.logs.lines(from: "aggregator", containing: "accepted update").isEmpty, "no update the aggregator could read")
        for agent in agents.prefix(3) { try await agent.stop() }
    }
}
