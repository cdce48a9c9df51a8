import FedMQCore
import Foundation
import Testing

@Suite("Server-side ensemble distillation (FedDF)")
struct EnsembleDistillationTests {
    /// Mean KL(softmax of the clients' mean logits ‖ the model's softmax) over `data`: how far the
    /// model is from the target FedDF distills towards.
    static func disagreement(_ model: Parameters, _ clients: [Parameters], spec: ModelSpec, on data: Dataset) -> Double {
        var network = try! DenseNetwork(spec: spec)
        func logits(_ parameters: Parameters) -> [Double] {
            data.features.withUnsafeBufferPointer { network.outputs(parameters, features: $0, rows: data.count) }.map(Double.init)
        }
        func softmax(_ slice: [Double]) -> [Double] {
            let peak = slice.max() ?? 0
            let exps = slice.map { exp($0 - peak) }
            return exps.map { $0 / exps.reduce(0, +) }
        }
        let ensemble = clients.map(logits)
        let own = logits(model)
        let k = spec.outputs
        var total = 0.0
        for row in 0..<data.count {
            let q = softmax((0..<k).map { j in ensemble.map { $0[row * k + j] }.reduce(0, +) / Double(clients.count) })
            let p = softmax((0..<k).map { own[row * k + $0] })
            for j in 0..<k { total += q[j] * (log(max(q[j], 1e-12)) - log(max(p[j], 1e-12))) }
        }
        return total / Double(data.count)
    }

    @Test("the distilled model agrees with the ensemble of client models better than their plain mean does, reproducibly")
    func agreesWithEnsemble() throws {
        let data = try CSVReader.parse(
            String(contentsOfFile: "data/digits.csv", encoding: .utf8), file: "digits.csv",
            options: CSVOptions(hasHeader: true, label: .name("label")))
        let (train, held) = try DataSplit.trainTest(data, testFraction: 0.2, classes: 10, seed: 4)
        let spec = ModelSpec(kind: .mlp, inputs: 64, hidden: [16], outputs: 10, scaling: FeatureScaling.fit(train))
        let global = try spec.initialParameters(seed: 1)
        // Four clients with two or three classes each: their models disagree.
        let shards = try Partitioner(parsing: "shards:2").partition(train, clients: 4, classes: 10, seed: 2)
        var scaled = train
        try spec.scaling?.apply(to: &scaled)
        var deltas: [Parameters] = []
        for (index, rows) in shards.enumerated() {
            var local = global
            var trainer = try Trainer(spec: spec, config: TrainingConfig(learningRate: 0.05, batchSize: 16, epochs: 2))
            var random = SplitMix64(seed: UInt64(index))
            _ = try trainer.train(&local, on: scaled.subset(rows), random: &random)
            try local.subtract(global)
            deltas.append(local)
        }
        var publicRows = held
        publicRows.targets = [Float](repeating: 0, count: held.count)
        func aggregate(_ strategy: inout some AggregationStrategy) throws -> Parameters {
            strategy.begin(global: global)
            for delta in deltas { try strategy.add(delta: delta, examples: 10) }
            return try strategy.finish()
        }
        var plain = FedAvg(weighting: .uniform)
        let settings = ServerDistillation(temperature: 2, epochs: 5, learningRate: 0.5)
        var feddf = try EnsembleDistillation(settings: settings, spec: spec, publicData: publicRows, weighting: .uniform)
        let mean = try aggregate(&plain)
        let distilled = try aggregate(&feddf)
        #expect(try aggregate(&feddf) == distilled)
        let clients = try deltas.map { delta in
            var client = global
            try client.add(delta)
            return client
        }
        var scaledPublic = publicRows
        try spec.scaling?.apply(to: &scaledPublic)
        let before = Self.disagreement(mean, clients, spec: spec, on: scaledPublic)
        let after = Self.disagreement(distilled, clients, spec: spec, on: scaledPublic)
        #expect(after < 0.8 * before, "KL to the ensemble: \(before) for the mean, \(after) distilled")
        #expect(throws: CoreError.self) {
            try EnsembleDistillation(
                settings: settings, spec: ModelSpec(kind: .linearRegression, inputs: 64, outputs: 1), publicData: publicRows, weighting: .uniform)
        }
    }
}
