import FedMQAgent
import FedMQAggregator
import FedMQProtocol
import FedMQRuntime
import Foundation
import Testing

@Suite("Shipped example configs")
struct ExampleConfigTests {
    @Test("deploy/examples/aggregator.json loads and validates")
    func aggregator() throws {
        let config = try loadJSONConfig(AggregatorConfig.self, from: repositoryFile("deploy/examples/aggregator.json"))
        try config.validate()
        #expect(config.policy.targetUpdates == 10)
        #expect(config.policy.training.learningRate == 0.1)
        #expect(config.model?.parameterLayout.map(\.name) == ["W", "b"])
    }

    @Test("deploy/examples/aggregator-secure.json (secure aggregation with distributed DP) loads and validates")
    func secureAggregator() throws {
        let config = try loadJSONConfig(AggregatorConfig.self, from: repositoryFile("deploy/examples/aggregator-secure.json"))
        try config.validate()
        let secure = try #require(config.policy.secureAggregation)
        #expect(secure.quantization == SecAggQuantization(clip: 1, scale: 1_048_576))
        #expect(secure.stageSeconds == 30)
        #expect(config.policy.privacy?.mode == .distributed)
        #expect(config.enrolment == "/etc/fedmq/enrolment.json")
    }

    @Test("deploy/examples/agent.json loads and validates")
    func agent() throws {
        let config = try loadJSONConfig(AgentConfig.self, from: repositoryFile("deploy/examples/agent.json"))
        try config.validate()
        #expect(config.agent == "a0")
        #expect(config.broker.keepAlive == 30)
    }

    @Test("a config with a wrong field type names the field")
    func badField() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID()).json").path
        try #"{"agent":"a0","job":"j","data_csv":5,"state_directory":"/tmp/x"}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: RuntimeError.self) { try loadJSONConfig(AgentConfig.self, from: path) }
        #expect(error?.description == "\(path): field 'data_csv' has the wrong type")
    }
}
