import FedMQCore
import Testing

@Suite("Centralised training on the shipped data reaches the target accuracy", .serialized)
struct CentralTrainingTests {
    func trainAndEvaluate(
        _ file: String, spec: ModelSpec, config: TrainingConfig, classes: Int
    ) throws -> Evaluation {
        let (train, test, scaling) = try standardizedSplit(file, classes: classes)
        var fullSpec = spec
        fullSpec.scaling = scaling
        var parameters = try fullSpec.initialParameters(seed: 1)
        var trainer = try Trainer(spec: fullSpec, config: config)
        var random = SplitMix64(seed: 5)
        let report = try trainer.train(&parameters, on: train, random: &random)
        #expect(report.examples == train.count)
        #expect(report.meanLoss.isFinite)
        return try Evaluation.evaluate(parameters, spec: fullSpec, on: test)
    }

    @Test("digits, softmax regression: test accuracy >= 0.95")
    func digitsSoftmax() throws {
        let result = try trainAndEvaluate(
            "digits.csv", spec: ModelSpec(kind: .softmaxRegression, inputs: 64, outputs: 10),
            config: TrainingConfig(learningRate: 0.05, batchSize: 32, epochs: 20), classes: 10)
        #expect(result.examples == 360)
        #expect(try #require(result.accuracy) >= 0.95)
        #expect(result.confusion?.flatMap { $0 }.reduce(0, +) == 360)
        #expect(result.confusion.map { matrix in (0..<10).reduce(0) { $0 + matrix[$1][$1] } } == Int((result.accuracy! * 360).rounded()))
    }

    @Test("digits, MLP 64-64-10: test accuracy >= 0.96")
    func digitsMLP() throws {
        let result = try trainAndEvaluate(
            "digits.csv", spec: ModelSpec(kind: .mlp, inputs: 64, hidden: [64], outputs: 10),
            config: TrainingConfig(learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4, batchSize: 32, epochs: 30),
            classes: 10)
        #expect(try #require(result.accuracy) >= 0.96)
    }

    @Test("breast cancer, softmax regression: test accuracy >= 0.95")
    func breastCancer() throws {
        let result = try trainAndEvaluate(
            "breast_cancer.csv", spec: ModelSpec(kind: .softmaxRegression, inputs: 30, outputs: 2),
            config: TrainingConfig(learningRate: 0.05, batchSize: 16, epochs: 30), classes: 2)
        #expect(result.examples == 114)
        #expect(try #require(result.accuracy) >= 0.95)
    }

    @Test("linear regression recovers a known linear relation (MSE and MAE near the noise)")
    func linearRegression() throws {
        var random = SplitMix64(seed: 9)
        let rows = 2000
        let weights: [Float] = [2, -1, 0.5]
        var features: [Float] = []
        var targets: [Float] = []
        for _ in 0..<rows {
            let x = (0..<3).map { _ in Float(random.nextGaussian()) }
            features += x
            targets.append(zip(x, weights).reduce(3) { $0 + $1.0 * $1.1 } + Float(random.nextGaussian() * 0.1))
        }
        let data = try Dataset(features: features, targets: targets, featureCount: 3)
        let spec = ModelSpec(kind: .linearRegression, inputs: 3, outputs: 1)
        var parameters = try spec.initialParameters(seed: 0)
        var trainer = try Trainer(spec: spec, config: TrainingConfig(learningRate: 0.05, batchSize: 32, epochs: 10))
        _ = try trainer.train(&parameters, on: data, random: &random)
        let result = try Evaluation.evaluate(parameters, spec: spec, on: data)
        #expect(result.loss < 0.02)
        #expect(try #require(result.meanAbsoluteError) < 0.12)
        #expect(abs(parameters["W"]!.values[0] - 2) < 0.05)
        #expect(abs(parameters["b"]!.values[0] - 3) < 0.05)
        var network = try DenseNetwork(spec: spec)
        let predicted = [Float](arrayLiteral: 1, 1, 1).withUnsafeBufferPointer { network.predict(parameters, features: $0, rows: 1) }
        #expect(abs(predicted[0] - 4.5) < 0.1)
    }

    @Test("FedProx pulls training towards the reference model")
    func fedProx() throws {
        let (train, _, _) = try standardizedSplit("breast_cancer.csv", classes: 2)
        let spec = ModelSpec(kind: .softmaxRegression, inputs: 30, outputs: 2)
        let reference = try spec.initialParameters(seed: 0)
        func distance(mu: Float) throws -> Double {
            var parameters = reference
            var trainer = try Trainer(spec: spec, config: TrainingConfig(learningRate: 0.05, epochs: 3, proximalMu: mu))
            var random = SplitMix64(seed: 1)
            _ = try trainer.train(&parameters, on: train, random: &random, reference: reference)
            try parameters.subtract(reference)
            return parameters.l2Norm
        }
        #expect(try distance(mu: 1) < 0.7 * distance(mu: 0))
        var parameters = reference
        var trainer = try Trainer(spec: spec, config: TrainingConfig(proximalMu: 1))
        var random = SplitMix64(seed: 1)
        #expect(throws: CoreError.invalidTraining("proximal_mu > 0 needs the global model as reference")) {
            try trainer.train(&parameters, on: train, random: &random)
        }
    }
}
