import FedMQAgent
import FedMQAggregator
import FedMQCore
import FedMQKeyholder
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

    @Test("deploy/examples/aggregator-sites.json and site-aggregator.json (hierarchical aggregation) load and validate")
    func siteExamples() throws {
        let central = try loadJSONConfig(AggregatorConfig.self, from: repositoryFile("deploy/examples/aggregator-sites.json"))
        try central.validate()
        #expect(central.policy.sites == ["north", "south", "east", "west"])
        #expect(central.policy.targetUpdates == 4 && central.policy.minUpdates == 3)
        let site = try loadJSONConfig(SiteAggregatorConfig.self, from: repositoryFile("deploy/examples/site-aggregator.json"))
        try site.validate()
        #expect(site.site.name == "north" && site.site.marginSeconds == 5 && site.site.targetUpdates == nil)
        #expect(central.policy.sites?.contains(site.site.name) == true && site.job == central.job)
        // A site config with a central aggregator's field is refused by name.
        let wrong = FileManager.default.temporaryDirectory.appendingPathComponent("site-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: wrong) }
        try Data(#"{"job":"j","site":{"name":"n"},"state_directory":"/tmp/s","policy":{"target_updates":1}}"#.utf8)
            .write(to: URL(fileURLWithPath: wrong))
        let refused = #expect(throws: RuntimeError.self) { try loadJSONConfig(SiteAggregatorConfig.self, from: wrong) }
        #expect(refused?.description.contains("policy") == true, "\(String(describing: refused))")
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

    @Test("deploy/examples/aggregator-analytics.json (record-level distributed DP under secure aggregation) loads and validates")
    func analyticsAggregator() throws {
        let config = try loadJSONConfig(AggregatorConfig.self, from: repositoryFile("deploy/examples/aggregator-analytics.json"))
        try config.validate()
        let analytics = try #require(config.policy.analytics)
        #expect(analytics.queries.map(\.description).contains("quantiles:mean_area:0.0:2600.0:0.5,0.9:32"))
        #expect(analytics.level == .record && analytics.maxRecords == 500)
        // The clip norm is the queries' record-level sensitivity, never the file's.
        #expect(config.policy.privacy?.clipNorm == analytics.sensitivity)
        #expect(config.policy.weighting == .uniform && config.model == nil)
    }

    @Test("deploy/examples/aggregator-homomorphic.json and keyholder.json load and validate; the policy is uniform, the key holder's quorum its own")
    func homomorphicExamples() throws {
        let config = try loadJSONConfig(AggregatorConfig.self, from: repositoryFile("deploy/examples/aggregator-homomorphic.json"))
        try config.validate()
        #expect(config.policy.homomorphic == HomomorphicSettings(keyBits: 2048, clip: 0.5, scale: 1_048_576, decryptSeconds: 60))
        #expect(config.policy.weighting == .uniform)
        let keyholder = try loadJSONConfig(KeyholderConfig.self, from: repositoryFile("deploy/examples/keyholder.json"))
        try keyholder.validate()
        #expect(keyholder.minUpdates == 50 && keyholder.keyBits == 2048)
        // What the key holder refuses to start with, by name.
        var single = keyholder
        single.minUpdates = 1
        let tooFew = #expect(throws: RuntimeError.self) { try single.validate() }
        #expect(tooFew?.description == "configuration: min_updates must be at least 2: a sum of one update is that update")
        var bits = keyholder
        bits.keyBits = 1024
        let small = #expect(throws: RuntimeError.self) { try bits.validate() }
        #expect(small?.description == "configuration: key_bits must be 2048 or 3072, not 1024")
    }

    @Test("deploy/examples/aggregator-async.json (asynchronous buffers) loads, validates and keeps the defaults it does not set")
    func asynchronousAggregator() throws {
        let config = try loadJSONConfig(AggregatorConfig.self, from: repositoryFile("deploy/examples/aggregator-async.json"))
        try config.validate()
        #expect(config.policy.mode == .asynchronous)
        #expect(
            config.policy.asynchronous == AsynchronousSettings(maxStaleness: 10, staleness: StalenessWeight(function: .polynomial, exponent: 0.5)))
        #expect(config.policy.minUpdates == 10)
    }

    @Test("asynchronous settings: defaults when absent, refusals that name the field")
    func asynchronousSettings() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("async-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func load(_ policy: String) throws -> AggregatorConfig {
            let path = directory.appendingPathComponent("c.json").path
            try
                #"{"job": "j", "state_directory": "s", "model": {"version": 1, "kind": "softmax_regression", "inputs": 2, "hidden": [], "outputs": 2, "activation": "relu"}, "policy": \#(policy)}"#
                .write(toFile: path, atomically: true, encoding: .utf8)
            let config = try loadJSONConfig(AggregatorConfig.self, from: path)
            try config.validate()
            return config
        }
        #expect(try load(#"{"target_updates": 3, "mode": "asynchronous"}"#).policy.asynchronous == AsynchronousSettings())
        #expect(try load(#"{"target_updates": 3}"#).policy.asynchronous == nil)
        func refusal(_ policy: String) -> String {
            do {
                _ = try load(policy)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal(#"{"target_updates": 3, "asynchronous": {"max_staleness": 2}}"#).contains(#"need "mode": "asynchronous""#))
        #expect(
            refusal(#"{"target_updates": 3, "mode": "asynchronous", "asynchronous": {"max_staleness": -1}}"#).contains("asynchronous.max_staleness"))
        #expect(refusal(#"{"target_updates": 3, "mode": "sometimes"}"#).contains("mode"))
        #expect(refusal(#"{"target_updates": 3, "mode": "asynchronous", "asynchronous": {"staleness": {"function": "cubic"}}}"#).contains("function"))
        #expect(refusal(#"{"target_updates": 3, "mode": "asynchronous", "asynchronous": {"max_stale": 2}}"#).contains("max_stale"))
    }

    @Test("deploy/examples/agent-trainer.json names the numpy example trainer; a trainer config is checked by name")
    func trainerAgent() throws {
        let config = try loadJSONConfig(AgentConfig.self, from: repositoryFile("deploy/examples/agent-trainer.json"))
        try config.validate()
        #expect(config.trainer == ExternalCommand(command: ["trainer/numpy_trainer.py"], timeoutSeconds: 300))
        #expect(FileManager.default.isExecutableFile(atPath: repositoryFile("deploy/examples/trainer/numpy_trainer.py")))
        var empty = config
        empty.trainer = ExternalCommand(command: [])
        #expect((#expect(throws: RuntimeError.self) { try empty.validate() })?.description == "configuration: trainer.command must name a program")
        var noData = config
        noData.trainer = nil
        noData.dataCSV = ""
        #expect(
            (#expect(throws: RuntimeError.self) { try noData.validate() })?.description
                == "configuration: data_csv is empty: give the local data, or a trainer command that reads its own")
    }

    @Test("deploy/examples/{aggregator,agent}-external.json run the numpy CNN as evaluation command and trainer; a bad command is refused by name")
    func externalModel() throws {
        let aggregator = try loadJSONConfig(AggregatorConfig.self, from: repositoryFile("deploy/examples/aggregator-external.json"))
        try aggregator.validate()
        #expect(aggregator.evaluationCommand == ExternalCommand(command: ["trainer/numpy_cnn.py", "evaluate"], timeoutSeconds: 60))
        #expect(aggregator.initialModel == "/tmp/initial.safetensors" && aggregator.evaluationCSV == "data/basic_motions_test.csv")
        let agent = try loadJSONConfig(AgentConfig.self, from: repositoryFile("deploy/examples/agent-external.json"))
        try agent.validate()
        #expect(agent.trainer == ExternalCommand(command: ["trainer/numpy_cnn.py", "train"], timeoutSeconds: 300))
        #expect(FileManager.default.isExecutableFile(atPath: repositoryFile("deploy/examples/trainer/numpy_cnn.py")))
        // Relative programs are the config folder's, as fedmq-aggregator resolves them.
        #expect(
            aggregator.evaluationCommand?.resolved(relativeTo: "/etc/fedmq").command
                == ["/etc/fedmq/trainer/numpy_cnn.py", "evaluate"])
        #expect(ExternalCommand(command: ["python3", "x.py"]).resolved(relativeTo: "/etc/fedmq").command == ["python3", "x.py"])
        var slow = aggregator
        slow.evaluationCommand?.timeoutSeconds = 0
        #expect(
            (#expect(throws: RuntimeError.self) { try slow.validate() })?.description
                == "configuration: evaluation_command.timeout_seconds must be within 0 (exclusive) and 86400, not 0.0")
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
