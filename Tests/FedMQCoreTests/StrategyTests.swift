import FedMQCore
import Testing

@Suite("Aggregation strategies")
struct StrategyTests {
    /// Runs a strategy on one-coordinate... or wider deltas from a zero global model.
    func aggregate(_ strategy: any AggregationStrategy, _ deltas: [[Float]], examples: [Int]? = nil) throws -> [Float] {
        var strategy = strategy
        let width = deltas[0].count
        strategy.begin(global: try Parameters([Tensor(name: "x", shape: [width], values: .init(repeating: 0, count: width))]))
        for (index, delta) in deltas.enumerated() {
            try strategy.add(delta: try Parameters([Tensor(name: "x", shape: [width], values: delta)]), examples: examples?[index] ?? 1)
        }
        return try strategy.finish().tensors[0].values
    }

    @Test("hand-computed cases: median, trimmed mean, Krum, Multi-Krum, FedAvg weights")
    func robustRules() throws {
        #expect(try aggregate(BufferedRobustStrategy(rule: .median), [[1, 5], [2, -1], [10, 0]]) == [2, 0])
        #expect(try aggregate(BufferedRobustStrategy(rule: .median), [[1], [2], [3], [100]]) == [2.5])
        #expect(try aggregate(BufferedRobustStrategy(rule: .trimmedMean(beta: 0.25)), [[1], [2], [3], [100]]) == [2.5])
        // Krum with f = 0 scores each update by its 2 nearest squared distances:
        // 0 → 0.01 + 0.09, 0.1 → 0.01 + 0.04, 0.3 → 0.04 + 0.09, 10 → far: it picks 0.1.
        let points: [[Float]] = [[0], [0.1], [0.3], [10]]
        #expect(try aggregate(BufferedRobustStrategy(rule: .krum(f: 0)), points) == [0.1])
        #expect(try abs(aggregate(BufferedRobustStrategy(rule: .multiKrum(f: 0, m: 2)), points)[0] - 0.05) < 1e-7)
        #expect(try aggregate(FedAvg(weighting: .examples), [[1], [4]], examples: [3, 1]) == [1.75])
        #expect(try aggregate(FedAvg(weighting: .uniform), [[1], [4]], examples: [3, 1]) == [2.5])
    }

    @Test("Bulyan ignores an outlier and needs n >= 4f + 3")
    func bulyan() throws {
        let honest: [[Float]] = [[0], [0.1], [0.2], [0.3], [0.4], [0.5]]
        let result = try aggregate(BufferedRobustStrategy(rule: .bulyan(f: 1)), honest + [[100]])
        #expect(result[0] >= 0 && result[0] <= 0.5)
        #expect(throws: CoreError.self) { try aggregate(BufferedRobustStrategy(rule: .bulyan(f: 2)), honest + [[100]]) }
    }

    @Test("server optimizers follow Reddi et al.'s update rules")
    func serverOptimizers() throws {
        // FedAvgM, eta 1, beta 0.9: m = 1 then 1.9; x = 1 then 2.9.
        var fedAvgM: any AggregationStrategy = ServerOptimizer(kind: .fedAvgM)
        var x = try Parameters([Tensor(name: "x", shape: [1], values: [0])])
        for expected: Float in [1, 2.9] {
            fedAvgM.begin(global: x)
            try fedAvgM.add(delta: try Parameters([Tensor(name: "x", shape: [1], values: [1])]), examples: 5)
            x = try fedAvgM.finish()
            #expect(abs(x.tensors[0].values[0] - expected) < 1e-5)
        }
        // One step with pseudo-gradient 1 from v0 = tau²: m = 0.1; v per rule; x = 0.1·m/(√v + tau).
        let tau = 1e-3
        let cases: [(ServerOptimizer.Kind, Double)] = [
            (.fedAdagrad, tau * tau + 1), (.fedAdam, 0.99 * tau * tau + 0.01), (.fedYogi, tau * tau + 0.01),
        ]
        for (kind, v) in cases {
            let step = try aggregate(ServerOptimizer(kind: kind), [[1], [1]])[0]
            #expect(abs(Double(step) - 0.1 * 0.1 / (v.squareRoot() + tau)) < 1e-6, "\(kind)")
        }
    }

    @Test("configs name strategies; unknown names and missing parameters are refused")
    func configs() throws {
        #expect(try StrategyConfig(name: "krum", f: 2).make() is BufferedRobustStrategy)
        #expect(try StrategyConfig(name: "fedadam").make() is ServerOptimizer)
        #expect(throws: CoreError.invalidTraining("strategy 'trimmed_mean' needs 'beta'")) { try StrategyConfig(name: "trimmed_mean").make() }
        #expect(throws: CoreError.self) { try StrategyConfig(name: "magic").make() }
    }

    @Test("3 of 10 agents send scaled sign-flipped updates: FedAvg breaks, median, trimmed mean and Krum stay within 3 points")
    func attackers() throws {
        let (train, test, scaling) = try standardizedSplit("digits.csv", classes: 10)
        let clients = try Partitioner.iid.partition(train, clients: 10, classes: 10, seed: 0).map { train.subset($0) }
        let spec = ModelSpec(kind: .softmaxRegression, inputs: 64, outputs: 10, scaling: scaling)
        // 30 rounds, as in the issue: Krum keeps one update per round and converges slower.
        let simulation = FederatedSimulation(
            spec: spec, clients: clients, rounds: 30, training: TrainingConfig(learningRate: 0.05, batchSize: 32, epochs: 1))
        func accuracy(_ strategy: any AggregationStrategy, attackers: Int) throws -> Double {
            let model = try simulation.run(from: try spec.initialParameters(seed: 0), strategy: strategy) { client, delta in
                if client >= clients.count - attackers { delta.scale(by: -10) }
            }
            return try Evaluation.evaluate(model, spec: spec, on: test).accuracy ?? 0
        }
        let clean = try accuracy(FedAvg(), attackers: 0)
        #expect(clean >= 0.9)
        #expect(try accuracy(FedAvg(), attackers: 3) < clean - 0.1)
        for rule in [BufferedRobustStrategy.Rule.median, .trimmedMean(beta: 0.3), .krum(f: 3)] {
            let robust = try accuracy(BufferedRobustStrategy(rule: rule), attackers: 3)
            #expect(robust >= clean - 0.03, "\(rule): \(robust) vs clean \(clean)")
        }
    }
}
