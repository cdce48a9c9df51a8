import FedMQCore
import Testing

@Suite("Record-level DP-SGD")
struct DPSGDTests {
    @Test("one step with zero gradients moves the weights by exactly the noise: std lr·z·C/(q·n) within 3% over 100,000 values")
    func noise() throws {
        let (inputs, rows) = (100_000, 4)
        let spec = ModelSpec(kind: .linearRegression, inputs: inputs, outputs: 1)
        let data = try Dataset(features: .init(repeating: 0, count: inputs * rows), targets: .init(repeating: 0, count: rows), featureCount: inputs)
        let dpSGD = DPSGDConfig(clipNorm: 2, noiseMultiplier: 1.5, samplingRate: 1)
        var trainer = try Trainer(spec: spec, config: TrainingConfig(learningRate: 0.5, epochs: 1, dpSGD: dpSGD))
        var parameters = try spec.initialParameters(seed: 0)
        var shuffle = SplitMix64(seed: 1)
        let report = try trainer.train(&parameters, on: data, random: &shuffle)
        #expect(report.steps == 1)
        let values = parameters["W"]!.values
        let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
        let std = (values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(values.count - 1)).squareRoot()
        let expected = 0.5 * 1.5 * 2 / Double(rows)
        #expect(abs(std / expected - 1) < 0.03)
    }

    @Test("per-example clipping bounds each example's influence: identical examples move the model by exactly lr·C")
    func clipping() throws {
        let spec = ModelSpec(kind: .softmaxRegression, inputs: 8, outputs: 3)
        // 50 identical examples with huge features: every gradient points the same way and is
        // far longer than C, so the clipped average has norm exactly C.
        let data = try Dataset(features: .init(repeating: 100, count: 8 * 50), targets: .init(repeating: 1, count: 50), featureCount: 8)
        var trainer = try Trainer(
            spec: spec, config: TrainingConfig(learningRate: 1, epochs: 1, dpSGD: DPSGDConfig(clipNorm: 0.25, noiseMultiplier: 0, samplingRate: 1)))
        var parameters = try spec.initialParameters(seed: 0)
        var random = SplitMix64(seed: 3)
        _ = try trainer.train(&parameters, on: data, random: &random)
        #expect(abs(parameters.l2Norm - 0.25) < 1e-5)
    }

    @Test("the report names the mechanism: T Poisson-sampled Gaussian steps")
    func accounting() throws {
        let dpSGD = DPSGDConfig(clipNorm: 1, noiseMultiplier: 1.1, samplingRate: 0.01)
        #expect(dpSGD.steps(epochs: 10) == 1000)
        #expect(
            dpSGD.event(epochs: 10) == .selfComposed(event: .poissonSampled(probability: 0.01, event: .gaussian(noiseMultiplier: 1.1)), count: 1000))
        var accountant = RDPAccountant()
        try accountant.compose(dpSGD.event(epochs: 10))
        // The reference vectors' typical case (q=0.01, z=1.1, T=1000): epsilon 1.7118 at delta 1e-5.
        #expect(abs(accountant.epsilon(delta: 1e-5).epsilon - 1.7117701662429012) < 1e-6)
        #expect(throws: CoreError.self) { try DPSGDConfig(clipNorm: 1, noiseMultiplier: 1, samplingRate: 0).validate() }
    }

    @Test("digits, softmax regression, DP-SGD at epsilon 8 (delta 1e-5): accuracy within 5 points of non-private training")
    func utility() throws {
        let (train, test, scaling) = try standardizedSplit("digits.csv", classes: 10)
        let spec = ModelSpec(kind: .softmaxRegression, inputs: 64, outputs: 10, scaling: scaling)
        let (q, epochs) = (0.05, 15)
        let z = try RDPAccountant.noiseMultiplier(targetEpsilon: 8, delta: 1e-5, samplingProbability: q, steps: Int(Double(epochs) / q))
        var privateModel = try spec.initialParameters(seed: 0)
        var privateTrainer = try Trainer(
            spec: spec,
            config: TrainingConfig(learningRate: 0.5, epochs: epochs, dpSGD: DPSGDConfig(clipNorm: 1, noiseMultiplier: z, samplingRate: q)),
            privacyRandom: SplitMix64(seed: 11))
        var random = SplitMix64(seed: 1)
        let report = try privateTrainer.train(&privateModel, on: train, random: &random)
        var accountant = RDPAccountant()
        try accountant.compose(try #require(report.privacyEvent))
        #expect(accountant.epsilon(delta: 1e-5).epsilon <= 8)
        var plainModel = try spec.initialParameters(seed: 0)
        var plainTrainer = try Trainer(spec: spec, config: TrainingConfig(learningRate: 0.05, batchSize: 32, epochs: 20))
        _ = try plainTrainer.train(&plainModel, on: train, random: &random)
        let privateAccuracy = try #require(try Evaluation.evaluate(privateModel, spec: spec, on: test).accuracy)
        let plainAccuracy = try #require(try Evaluation.evaluate(plainModel, spec: spec, on: test).accuracy)
        #expect(privateAccuracy >= plainAccuracy - 0.05, "DP-SGD \(privateAccuracy) vs \(plainAccuracy) (z = \(z))")
    }
}
