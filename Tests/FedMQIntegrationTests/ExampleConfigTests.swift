import FedMQAgent
import FedMQAggregator
import FedMQRuntime
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

import Foundation
