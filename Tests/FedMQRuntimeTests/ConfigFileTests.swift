import FedMQAgent
import FedMQAggregator
import FedMQCore
import FedMQProtocol
import FedMQRuntime
import Foundation
import Testing

/// Config files laid over their types' defaults: a file names only what it changes.
@Suite("Config files over defaults")
struct ConfigFileTests {
    func aggregator(_ json: String) throws(RuntimeError) -> AggregatorConfig {
        try decodeConfig(AggregatorConfig.self, from: Data(json.utf8), file: "aggregator.json")
    }

    @Test("a minimal aggregator config takes every default, at every depth; derived defaults follow what is set")
    func defaults() throws {
        let minimal = try aggregator(#"{"job": "j", "state_directory": "s", "policy": {"target_updates": 5}, "broker": {"port": 1999}}"#)
        #expect(minimal.policy.targetUpdates == 5 && minimal.policy.minUpdates == 5, "min_updates defaults to target_updates")
        #expect(minimal.policy.rounds == 10 && minimal.policy.roundSeconds == 60 && minimal.policy.training == TrainingConfig())
        #expect(minimal.policy.weighting == .examples)
        #expect(minimal.broker.port == 1999 && minimal.broker.host == "127.0.0.1" && minimal.broker.keepAlive == 30)
        #expect(minimal.exitWhenFinished && minimal.evaluationOptions.hasHeader == false)

        let set = try aggregator(
            #"""
            {"job": "j", "state_directory": "s", "evaluation_label": "y", "exit_when_finished": false,
             "policy": {"target_updates": 5, "min_updates": 3, "rounds": null, "training": {"epochs": 4},
                        "privacy": {"mode": "central", "clip_norm": 1, "noise_multiplier": 1, "expected_cohort": 5, "delta": 1e-5}}}
            """#)
        #expect(set.policy.minUpdates == 3 && set.policy.rounds == nil, "null runs forever")
        #expect(set.policy.training.epochs == 4 && set.policy.training.learningRate == TrainingConfig().learningRate)
        #expect(set.policy.weighting == .uniform, "privacy needs uniform weighting, so it is the default")
        #expect(set.evaluationOptions.hasHeader && set.evaluationOptions.label == .name("y") && !set.exitWhenFinished)
    }

    @Test("64-bit integers keep every digit on their way over the defaults; fractions and exponents stay numbers")
    func wideIntegers() throws {
        for seed in [UInt64.max, 9_007_199_254_740_993, 0] {
            let config = try aggregator(#"{"job": "j", "state_directory": "s", "seed": \#(seed), "policy": {"target_updates": 2}}"#)
            #expect(config.seed == seed)
        }
        let rates = try aggregator(
            #"{"job": "j", "state_directory": "s", "policy": {"target_updates": 2, "round_seconds": 1.5e1, "training": {"learning_rate": 0.1}}}"#)
        #expect(rates.policy.roundSeconds == 15 && rates.policy.training.learningRate == 0.1)
    }

    @Test("a missing required field, a wrong type and an unknown key are each refused by path")
    func refusals() {
        let cases: [(String, String)] = [
            (#"{"job": "j", "state_directory": "s", "policy": {"min_updates": 2}}"#, "missing field 'policy.target_updates'"),
            (#"{"job": "j", "policy": {"target_updates": 2}}"#, "missing field 'state_directory'"),
            (#"{"job": "j", "state_directory": "s", "policy": {"target_updates": "two"}}"#, "field 'policy.target_updates' has the wrong type"),
            (#"{"job": "j", "state_directory": "s", "policy": {"target_updates": 2, "round_secs": 5}}"#, "unknown key 'policy.round_secs'"),
            (#"["job"]"#, "the config must be a JSON object"),
            (#"{"job": "j""#, "not valid JSON"),
        ]
        for (json, expected) in cases {
            let error = #expect(throws: RuntimeError.self) { try aggregator(json) }
            #expect(error?.description.contains(expected) == true, "\(json): \(String(describing: error))")
        }
    }

    @Test("an agent config's header line follows data_label unless data_header says otherwise; data_missing picks the missing-cell policy")
    func agentHeader() throws {
        func agent(_ extra: String) throws -> AgentConfig {
            try decodeConfig(
                AgentConfig.self, from: Data(#"{"agent": "a", "job": "j", "data_csv": "d.csv", "state_directory": "s"\#(extra)}"#.utf8),
                file: "agent.json")
        }
        #expect(try agent("").dataOptions.hasHeader == false)
        #expect(try agent(#", "data_label": "y""#).dataOptions.hasHeader == true)
        #expect(try agent(#", "data_label": "y", "data_header": false"#).dataOptions.hasHeader == false)
        #expect(try agent(#", "privacy_policy": {"min_secure_cohort": 5}"#).privacyPolicy.minSecureCohort == 5)
        #expect(try agent(#", "privacy_policy": {"min_secure_cohort": 5}"#).privacyPolicy.minNoiseMultiplier == 0)
        #expect(try agent("").dataOptions.missing == .error)
        #expect(try agent(#", "data_missing": "drop_row""#).dataOptions.missing == .dropRow)
        #expect(throws: RuntimeError.self) { try agent(#", "data_missing": "guess""#) }
    }
}
