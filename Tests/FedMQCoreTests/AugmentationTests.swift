import FedMQCore
import Foundation
import Testing

@Suite("Data augmentation in local training")
struct AugmentationTests {
    static func loss(
        _ network: inout DenseNetwork, _ parameters: Parameters, _ features: [Float], _ targets: [Float],
        mixed: (lambda: Float, partners: [Float])? = nil
    ) -> (loss: Double, gradient: [Float]) {
        var gradient = parameters.zeros()
        let loss = features.withUnsafeBufferPointer { f in
            targets.withUnsafeBufferPointer { t in
                network.lossAndGradient(parameters, features: f, targets: t, rows: targets.count, into: &gradient, mixed: mixed)
            }
        }
        return (loss, gradient.tensors.flatMap(\.values))
    }

    @Test("a mixup batch's loss and gradient are λ times those of its labels plus 1 − λ times its partners'")
    func mixupLoss() throws {
        let spec = ModelSpec(kind: .mlp, inputs: 4, hidden: [5], outputs: 3)
        let parameters = try spec.initialParameters(seed: 2)
        var random = SplitMix64(seed: 5)
        let features = (0..<24).map { _ in Float(random.nextGaussian()) }
        let labels: [Float] = [0, 1, 2, 1, 0, 2]
        let partners: [Float] = [2, 2, 0, 1, 1, 0]
        var network = try DenseNetwork(spec: spec)
        let own = Self.loss(&network, parameters, features, labels)
        let theirs = Self.loss(&network, parameters, features, partners)
        let mixed = Self.loss(&network, parameters, features, labels, mixed: (0.3, partners))
        #expect(abs(mixed.loss - (0.3 * own.loss + 0.7 * theirs.loss)) < 1e-5)
        for (index, value) in mixed.gradient.enumerated() {
            #expect(abs(value - (0.3 * own.gradient[index] + 0.7 * theirs.gradient[index])) < 1e-5)
        }
        // Regression mixes the targets themselves.
        let linear = ModelSpec(kind: .linearRegression, inputs: 4, outputs: 1)
        var regression = try DenseNetwork(spec: linear)
        let weights = try linear.initialParameters(seed: 0)
        let blended = Self.loss(&regression, weights, features, labels, mixed: (0.25, partners))
        let direct = Self.loss(&regression, weights, features, zip(labels, partners).map { 0.25 * $0 + 0.75 * $1 })
        #expect(abs(blended.loss - direct.loss) < 1e-6 && blended.gradient == direct.gradient)
    }

    @Test("augmented training is reproducible from its seed, differs from plain training, and still learns")
    func seededTraining() throws {
        let data = try CSVReader.parse(
            String(contentsOfFile: "data/breast_cancer.csv", encoding: .utf8), file: "breast_cancer.csv",
            options: CSVOptions(hasHeader: true, label: .name("label")))
        var scaled = data
        try FeatureScaling.fit(data).apply(to: &scaled)
        let spec = ModelSpec(kind: .softmaxRegression, inputs: scaled.featureCount, outputs: 2)
        func train(_ augmentation: Augmentation?) throws -> Parameters {
            var trainer = try Trainer(spec: spec, config: TrainingConfig(learningRate: 0.1, batchSize: 16, epochs: 3, augmentation: augmentation))
            var parameters = try spec.initialParameters(seed: 0)
            var random = SplitMix64(seed: 9)
            _ = try trainer.train(&parameters, on: scaled, random: &random)
            return parameters
        }
        let augmentation = Augmentation(gaussianNoise: 0.1, mixupAlpha: 0.4)
        let first = try train(augmentation)
        #expect(try train(augmentation) == first)
        #expect(try train(nil) != first)
        let accuracy = try #require(try Evaluation.evaluate(first, spec: spec, on: scaled).accuracy)
        #expect(accuracy > 0.9, "\(accuracy)")
    }

    @Test("mixup beside DP-SGD and values out of range are refused by name; noise beside DP-SGD is not")
    func refusals() throws {
        let dpSGD = DPSGDConfig(clipNorm: 1, noiseMultiplier: 1, samplingRate: 0.1)
        #expect {
            try TrainingConfig(dpSGD: dpSGD, augmentation: Augmentation(mixupAlpha: 0.2)).validate()
        } throws: { "\($0)".contains("mixup blends two records") }
        #expect(throws: Never.self) { try TrainingConfig(dpSGD: dpSGD, augmentation: Augmentation(gaussianNoise: 0.1)).validate() }
        #expect(throws: CoreError.invalidTraining("augmentation gaussian_noise must be within 0...100")) {
            try TrainingConfig(augmentation: Augmentation(gaussianNoise: -1)).validate()
        }
        #expect(throws: CoreError.invalidTraining("augmentation mixup_alpha must be within 0...100")) {
            try TrainingConfig(augmentation: Augmentation(mixupAlpha: .nan)).validate()
        }
        let decoded = try JSONDecoder().decode(TrainingConfig.self, from: Data(#"{"augmentation":{"mixup_alpha":0.2}}"#.utf8))
        #expect(decoded.augmentation == Augmentation(mixupAlpha: 0.2))
    }

    /// Two windows of 3 channels x 10 readings: reading r of channel c of row k is 100k + 10c + r + 1.
    static let windows: [Float] = (0..<60).map { (index: Int) -> Float in
        let (row, channel, reading) = (index / 30, (index % 30) / 10, index % 10)
        return Float(100 * row + 10 * channel + reading + 1)
    }

    @Test("a time shift rolls every channel of a window by the same offset, within the bound")
    func timeShift() throws {
        let augmentation = WindowAugmentation(channels: 3, length: 10, timeShift: 3)
        var random = SplitMix64(seed: 1)
        var offsets: Set<Int> = []
        for _ in 0..<40 {
            var features = Self.windows
            augmentation.apply(to: &features, rows: 2, using: &random)
            for row in 0..<2 {
                let shifts = (0..<3).map { channel -> Int in
                    let values = Array(features[(row * 30 + channel * 10)..<(row * 30 + channel * 10 + 10)])
                    let original = Array(Self.windows[(row * 30 + channel * 10)..<(row * 30 + channel * 10 + 10)])
                    return (0..<10).first { shift in (0..<10).allSatisfy { values[$0] == original[(($0 - shift) % 10 + 10) % 10] } } ?? -1
                }
                #expect(Set(shifts).count == 1 && shifts[0] >= 0, "\(shifts)")
                let signed = shifts[0] > 5 ? shifts[0] - 10 : shifts[0]
                #expect(abs(signed) <= 3)
                offsets.insert(signed)
            }
        }
        #expect(offsets.count == 7, "every offset in -3...3 is drawn: \(offsets.sorted())")
    }

    @Test("scaling multiplies each channel by one factor; a magnitude warp by a smooth curve near 1")
    func scalingAndWarp() throws {
        var random = SplitMix64(seed: 2)
        var scaled = Self.windows
        WindowAugmentation(channels: 3, length: 10, scaling: 0.2).apply(to: &scaled, rows: 2, using: &random)
        for start in stride(from: 0, to: 60, by: 10) {
            let ratios = (start..<(start + 10)).map { scaled[$0] / Self.windows[$0] }
            #expect(ratios.allSatisfy { abs($0 - ratios[0]) < 1e-5 } && ratios[0] != 1)
        }
        let warp = WindowAugmentation(channels: 1, length: 200, magnitudeWarp: 0.2, knots: 4)
        let curve = warp.warpCurve(using: &random)
        #expect(curve.count == 200 && curve.allSatisfy { $0 > 0 && $0 < 2 })
        #expect(zip(curve, curve.dropFirst()).allSatisfy { abs($0 - $1) < 0.05 }, "smooth: neighbouring factors differ by little")
        #expect(Set(curve.map { ($0 * 1000).rounded() }).count > 20, "not a constant")
    }

    @Test("window augmentations need rows of channels x length values and settings in range")
    func windowChecks() throws {
        let spec = ModelSpec(kind: .softmaxRegression, inputs: 4, outputs: 2)
        let data = try Dataset(features: [Float](repeating: 1, count: 8), targets: [0, 1], featureCount: 4)
        var trainer = try Trainer(
            spec: spec, config: TrainingConfig(augmentation: Augmentation(window: WindowAugmentation(channels: 3, length: 2, timeShift: 1))))
        var parameters = try spec.initialParameters(seed: 0)
        var random = SplitMix64(seed: 0)
        #expect(throws: CoreError.invalidTraining("augmentation.window is 3 channels x 2 readings = 6 values; the rows have 4")) {
            try trainer.train(&parameters, on: data, random: &random)
        }
        #expect(throws: CoreError.invalidTraining("augmentation.window time_shift must be within 0..<length")) {
            try WindowAugmentation(channels: 2, length: 5, timeShift: 5).validate()
        }
        let decoded = try JSONDecoder().decode(
            Augmentation.self, from: Data(#"{"window":{"channels":3,"length":50,"time_shift":5,"magnitude_warp":0.2}}"#.utf8))
        #expect(decoded.window == WindowAugmentation(channels: 3, length: 50, magnitudeWarp: 0.2, timeShift: 5))
    }
}
