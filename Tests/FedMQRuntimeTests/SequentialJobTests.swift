import FedMQCore
import FedMQProtocol
import FedMQRuntime
import Foundation
import Testing

@Suite("A sequential model through the runtimes", .hangGuard)
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

@Suite("An autoencoder's anomaly threshold through the runtimes", .hangGuard)
struct AnomalyThresholdTests {
    @Test("agents count their held-out reconstruction errors; the metrics' threshold is the quantile of the fleet's counts")
    func thresholdFromAgents() async throws {
        let fleet = try RuntimeFleet()
        var policy = fleet.policy(rounds: 3, target: 3, minimum: 3)
        policy.evaluateEvery = 1
        var spec = ModelSpec(layers: [.dense(units: 2), .activation(.tanh), .dense(units: 3)], inputs: 3, outputs: 3)
        spec.objective = .reconstruction
        spec.anomalyQuantile = 0.9
        var config = fleet.aggregatorConfig(policy: policy)
        config.model = spec
        let observed = try await fleet.observe([fleet.topics.allEvaluations])
        let aggregator = fleet.aggregator(config)
        let agents = try (0..<3).map { index in
            var agent = try fleet.agentConfig(index)
            agent.holdoutFraction = 0.25
            return fleet.agent(agent)
        }
        try await aggregator.finished()
        for agent in agents { try await agent.stop() }
        let federated = try fleet.metricsLog().compactMap(\.federated)
        #expect(federated.count >= 2 && federated.allSatisfy { $0.agents == 3 }, "\(federated)")
        // Every evaluation the agents published, by the round of the model it evaluated.
        var histograms: [Int: [[Int]]] = [:]
        _ = try await observed.first { message -> Bool? in
            let evaluation = try ProtocolJSON.decode(AgentEvaluation.self, from: message.payload)
            histograms[evaluation.round, default: []].append(try #require(evaluation.errorHistogram))
            return federated.allSatisfy { histograms[$0.round]?.count == 3 } ? true : nil
        }
        for evaluation in federated {
            let fleetCounts = (histograms[evaluation.round] ?? []).reduce(into: [Int](repeating: 0, count: ReconstructionErrors.binCount)) {
                sum, counts in
                for bin in sum.indices { sum[bin] += counts[bin] }
            }
            #expect(fleetCounts.reduce(0, +) == evaluation.examples)
            let threshold = try #require(evaluation.anomalyThreshold)
            #expect(threshold == ReconstructionErrors.threshold(fleetCounts, quantile: 0.9))
            #expect(evaluation.accuracy == nil && evaluation.loss > 0)
        }
    }
}

@Suite("Selected columns through the runtimes", .hangGuard)
struct ColumnSelectionJobTests {
    @Test("agents and the aggregator keep only the named columns of files that hold more (an id, a noisy sensor), in the model's order")
    func dataColumns() async throws {
        let fleet = try RuntimeFleet()
        var config = fleet.aggregatorConfig(policy: fleet.policy(rounds: 2, target: 2, minimum: 2))
        var agents: [RunningService] = []
        for index in 0..<2 {
            var agent = try fleet.agentConfig(index)
            // The same rows with a device id first, the features in another order and a noise column.
            let rows = try String(contentsOfFile: agent.dataCSV, encoding: .utf8).split(separator: "\n").map { line in
                let cells = line.split(separator: ",")
                return "\(index),\(cells[2]),\(cells[0]),9.5,\(cells[1]),\(cells[3])"
            }
            try (["device,x2,x0,noise,x1,label"] + rows).joined(separator: "\n").write(toFile: agent.dataCSV, atomically: true, encoding: .utf8)
            agent.dataColumns = ["x0", "x1", "x2"]
            agent.dataLabel = "label"
            if index == 0 {
                config.evaluationCSV = agent.dataCSV
                config.evaluationColumns = agent.dataColumns
                config.evaluationLabel = "label"
            }
            agents.append(fleet.agent(agent))
        }
        let aggregator = fleet.aggregator(config)
        try await aggregator.finished()
        for agent in agents { try await agent.stop() }
        let metrics = try fleet.metricsLog()
        #expect(metrics.map(\.round) == [1, 2] && metrics.allSatisfy { $0.participants == ["a0", "a1"] })
        // Label 1 where x0 + x1 > x2: learnable only from the right columns in the right order.
        #expect(try #require(metrics.last?.accuracy) >= 0.8, "\(metrics.map { $0.accuracy ?? -1 })")

        var refused = try fleet.agentConfig(2)
        refused.dataColumns = ["x0"]
        refused.dataHeader = false
        #expect { try refused.validate() } throws: { "\($0)".contains("data_columns must name distinct columns of a CSV with a header line") }
    }
}
