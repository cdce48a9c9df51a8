import FedMQCore
import Foundation
import Testing

@Suite("Client-side knowledge distillation")
struct DistillationTests {
    static func batchLoss(
        _ network: inout DenseNetwork, _ parameters: Parameters, _ features: [Float], _ labels: [Float], teacher: DistillationTargets?
    ) -> (loss: Double, gradient: Parameters) {
        var gradient = parameters.zeros()
        let loss = features.withUnsafeBufferPointer { f in
            labels.withUnsafeBufferPointer { t in
                network.lossAndGradient(parameters, features: f, targets: t, rows: labels.count, into: &gradient, teacher: teacher)
            }
        }
        return (loss, gradient)
    }

    @Test("the distillation gradient agrees with central differences of (1 − a)·CE + a·T²·KL")
    func gradient() throws {
        let spec = ModelSpec(kind: .mlp, inputs: 4, hidden: [5], outputs: 3)
        var random = SplitMix64(seed: 21)
        var parameters = try spec.initialParameters(seed: 4)
        parameters = try parameters.reshaped(parameters.tensors.flatMap(\.values).map { $0 + Float(random.nextGaussian() * 0.3) })
        let features = (0..<20).map { _ in Float(random.nextGaussian()) }
        let labels: [Float] = [0, 2, 1, 1, 0]
        let teacher = DistillationTargets(logits: (0..<15).map { _ in Float(random.nextGaussian() * 2) }, alpha: 0.6, temperature: 2.5)
        var network = try DenseNetwork(spec: spec)
        let analytic = Self.batchLoss(&network, parameters, features, labels, teacher: teacher).gradient.tensors.flatMap(\.values)
        let values = parameters.tensors.flatMap(\.values)
        let step: Float = 1e-2
        for index in stride(from: 0, to: values.count, by: 3) {
            var plus = values
            var minus = values
            plus[index] += step
            minus[index] -= step
            let up = Self.batchLoss(&network, try parameters.reshaped(plus), features, labels, teacher: teacher).loss
            let down = Self.batchLoss(&network, try parameters.reshaped(minus), features, labels, teacher: teacher).loss
            let numeric = (up - down) / Double(2 * step)
            #expect(abs(numeric - Double(analytic[index])) < 2e-3 * max(1, abs(numeric)), "parameter \(index)")
        }
    }

    @Test("a = 0 is the labels' cross-entropy; a student equal to its teacher at a = 1 has nothing left to learn")
    func limits() throws {
        let spec = ModelSpec(kind: .softmaxRegression, inputs: 3, outputs: 2)
        var random = SplitMix64(seed: 2)
        let parameters = try spec.initialParameters(seed: 0).reshaped((0..<8).map { _ in Float(random.nextGaussian()) })
        let features = (0..<12).map { _ in Float(random.nextGaussian()) }
        let labels: [Float] = [0, 1, 1, 0]
        var network = try DenseNetwork(spec: spec)
        let logits = features.withUnsafeBufferPointer { network.outputs(parameters, features: $0, rows: 4) }
        let plain = Self.batchLoss(&network, parameters, features, labels, teacher: nil)
        let labelsOnly = Self.batchLoss(&network, parameters, features, labels, teacher: .init(logits: logits, alpha: 0, temperature: 4))
        #expect(abs(plain.loss - labelsOnly.loss) < 1e-6)
        let teacherOnly = Self.batchLoss(&network, parameters, features, labels, teacher: .init(logits: logits, alpha: 1, temperature: 2))
        #expect(abs(teacherOnly.loss) < 1e-9 && teacherOnly.gradient.l2Norm < 1e-6)
    }

    @Test("a softmax student distilled from an MLP teacher on digits learns, from the teacher alone too")
    func student() throws {
        let data = try CSVReader.parse(
            String(contentsOfFile: "data/digits.csv", encoding: .utf8), file: "digits.csv",
            options: CSVOptions(hasHeader: true, label: .name("label")))
        var (train, test) = try DataSplit.trainTest(data, testFraction: 0.2, classes: 10, seed: 1)
        let scaling = FeatureScaling.fit(train)
        try scaling.apply(to: &train)
        try scaling.apply(to: &test)
        let teacherSpec = ModelSpec(kind: .mlp, inputs: 64, hidden: [32], outputs: 10)
        var teacher = try teacherSpec.initialParameters(seed: 0)
        var trainer = try Trainer(spec: teacherSpec, config: TrainingConfig(learningRate: 0.05, momentum: 0.9, batchSize: 32, epochs: 5))
        var random = SplitMix64(seed: 3)
        _ = try trainer.train(&teacher, on: train, random: &random)
        let studentSpec = ModelSpec(kind: .softmaxRegression, inputs: 64, outputs: 10)
        for alpha: Float in [0.5, 1] {
            let distillation = DistillationConfig(student: studentSpec, alpha: alpha, temperature: 3, epochs: 5, learningRate: 0.1)
            var student = try studentSpec.initialParameters(seed: 0)
            try distillation.train(&student, teacher: teacher, teacherSpec: teacherSpec, on: train, random: &random)
            let accuracy = try #require(try Evaluation.evaluate(student, spec: studentSpec, on: test).accuracy)
            #expect(accuracy > 0.9, "alpha \(alpha): \(accuracy)")
        }
        var short = try studentSpec.initialParameters(seed: 0)
        #expect {
            try DistillationConfig(student: studentSpec).train(&short, on: train, random: &random) { _ in [1, 2] }
        } throws: { "\($0)".contains("the teacher gave 2 logits for 32 rows of 10 classes") }
        let mismatched = DistillationConfig(student: ModelSpec(kind: .softmaxRegression, inputs: 64, outputs: 9))
        var other = try mismatched.student.initialParameters(seed: 0)
        #expect {
            try mismatched.train(&other, teacher: teacher, teacherSpec: teacherSpec, on: train, random: &random)
        } throws: { "\($0)".contains("does not match the global model") }
    }
}
