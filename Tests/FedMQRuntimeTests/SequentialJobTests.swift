import FedMQCore
import FedMQProtocol
import FedMQRuntime
import Foundation
import Testing

@Suite("A sequential model through the runtimes", .timeLimit(.minutes(1)))
struct SequentialJobTests {
    @Test("agents train a sequential model natively, the aggregator evaluates it, and its spec travels in the retained model")
    func sequentialJob() async throws {
        let fleet = try RuntimeFleet()
        var policy = fleet.policy(rounds: 3, target: 3, minimum: 3)
        policy.training.epochs = 5
        var config = fleet.aggregatorConfig(policy: policy)
        let spec = ModelSpec(layers: [.dense(units: 8), .layerNorm, .activation(.tanh), .dense(units: 2)], inputs: 3, outputs: 2)
        config.model = spec
        let agentConfigs = try (0..<3).map { try fleet.agentConfig($0) }
        config.evaluationCSV = agentConfigs[0].dataCSV
        let aggregator = fleet.aggregator(config)
        let agents = agentConfigs.map { fleet.agent($0) }
        try await aggregator.finished()
        for agent in agents { try await agent.stop() }
        let metrics = try fleet.metricsLog()
        #expect(metrics.map(\.round) == [1, 2, 3])
        #expect(metrics.allSatisfy { $0.participants == ["a0", "a1", "a2"] && $0.rejected.isEmpty }, "\(metrics)")
        // Label 1 where x0 + x1 > x2: the layers learn it.
        #expect(try #require(metrics.last?.accuracy) >= 0.85, "\(metrics.map { $0.accuracy ?? -1 })")
        let retained = try #require(fleet.broker.retainedMessage(on: fleet.topics.globalModel))
        let model = try ModelCodec.decodeModel(retained.payload)
        #expect(model.spec == spec && model.round == 3)
        #expect(model.parameters.names == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"])
    }
}
