import FedMQCore
import Foundation
import Testing

@Suite("Autoencoders and anomaly thresholds")
struct AutoencoderTests {
    /// A dense autoencoder of `inputs` features through a bottleneck of `code` units.
    static func autoencoder(inputs: Int, code: Int) -> ModelSpec {
        var spec = ModelSpec(
            layers: [
                .dense(units: 32), .activation(.tanh), .dense(units: code), .activation(.tanh), .dense(units: 32), .activation(.tanh),
                .dense(units: inputs),
            ],
            inputs: inputs, outputs: inputs)
        spec.objective = .reconstruction
        return spec
    }

    @Test("error bins are logarithmic, a histogram counts every error once, and the threshold is the quantile bin's upper edge")
    func bins() {
        let edges = ReconstructionErrors.edges
        #expect(edges.count == 241 && abs(edges[0] - 1e-8) < 1e-20 && abs(edges[160] - 1) < 1e-12 && abs(edges[240] - 1e4) < 1e-8)
        #expect(ReconstructionErrors.bin(of: 0) == 0 && ReconstructionErrors.bin(of: 1) == 161 && ReconstructionErrors.bin(of: 1e9) == 241)
        #expect(ReconstructionErrors.bin(of: 0.999) == 160)
        // 99 errors of 0.01 and one of 5: the 0.99 quantile lies in 0.01's bin, whose upper edge is just above it.
        let counts = ReconstructionErrors.histogram([Double](repeating: 0.01, count: 99) + [5])
        #expect(counts.reduce(0, +) == 100 && ReconstructionErrors.isValid(counts, examples: 100))
        let threshold = ReconstructionErrors.threshold(counts, quantile: 0.99)
        #expect(threshold.map { $0 > 0.01 && $0 < 0.0113 } == true, "\(String(describing: threshold))")
        #expect(ReconstructionErrors.threshold(counts, quantile: 0.995).map { $0 > 5 && $0 < 5.7 } == true)
        #expect(ReconstructionErrors.threshold([Int](repeating: 0, count: 242), quantile: 0.5) == nil)
        #expect(!ReconstructionErrors.isValid(counts, examples: 99) && !ReconstructionErrors.isValid([1], examples: 1))
    }

    @Test("an autoencoder's spec outputs its inputs; anomaly_quantile belongs to it and lies in (0, 1)")
    func spec() throws {
        let spec = Self.autoencoder(inputs: 8, code: 2)
        try spec.validate()
        #expect(try ModelSpec.parse(spec.jsonString()) == spec)
        #expect(!spec.isClassifier && spec.anomalyThresholdQuantile == 0.99)
        for (json, reason) in [
            (
                #"{"version":1,"kind":"sequential","inputs":4,"outputs":2,"objective":"reconstruction","layers":[{"type":"dense","units":2}]}"#,
                "outputs its 4 inputs"
            ),
            (
                #"{"version":1,"kind":"sequential","inputs":4,"outputs":2,"anomaly_quantile":0.9,"layers":[{"type":"dense","units":2}]}"#,
                "anomaly_quantile is for an autoencoder"
            ),
            (
                #"{"version":1,"kind":"sequential","inputs":2,"outputs":2,"objective":"reconstruction","anomaly_quantile":1,"layers":[{"type":"dense","units":2}]}"#,
                "must lie in (0, 1)"
            ),
            (#"{"version":1,"kind":"mlp","inputs":2,"hidden":[2],"outputs":2,"objective":"reconstruction"}"#, "only a sequential model"),
        ] {
            let error = #expect(throws: CoreError.self) { try ModelSpec.parse(json) }
            #expect(error?.description.contains(reason) == true, "\(error.map { "\($0)" } ?? "")")
        }
    }

    @Test(
        "an autoencoder trained on digits sets a 0.99 threshold that flags few unseen clean digits and most digits with a quarter of their pixels corrupted"
    )
    func anomalies() throws {
        let data = try readCSV(dataFile("digits.csv"), options: CSVOptions(hasHeader: true, label: .name("label")))
        let scaled = data.features.map { $0 / 16 }
        let (train, calibration, clean) = (
            data.targets.indices.filter { $0 % 5 < 3 }, data.targets.indices.filter { $0 % 5 == 3 }, data.targets.indices.filter { $0 % 5 == 4 }
        )
        func rows(_ indices: [Int], corrupt: Bool = false) throws -> Dataset {
            var random = SplitMix64(seed: 9)
            var features = indices.flatMap { scaled[($0 * 64)..<(($0 + 1) * 64)] }
            if corrupt {
                // A faulty sensor: 16 of each row's 64 readings replaced by noise.
                for row in indices.indices {
                    for pixel in random.permutation(64).prefix(16) { features[row * 64 + pixel] = Float(random.nextUnit()) }
                }
            }
            return try Dataset(features: features, targets: indices.map { _ in 0 }, featureCount: 64)
        }
        let spec = Self.autoencoder(inputs: 64, code: 8)
        var parameters = try spec.initialParameters(seed: 0)
        var trainer = try Trainer(spec: spec, config: TrainingConfig(learningRate: 0.1, momentum: 0.9, batchSize: 32, epochs: 200))
        var random = SplitMix64(seed: 1)
        let report = try trainer.train(&parameters, on: try rows(train), random: &random)
        #expect(report.meanLoss < 0.03, "training reconstruction error \(report.meanLoss)")
        // The threshold from held-out rows' histogram, as agents report it.
        let histogram = try #require(try Evaluation.evaluate(parameters, spec: spec, on: try rows(calibration)).errorHistogram)
        let threshold = try #require(ReconstructionErrors.threshold(histogram, quantile: 0.99))
        func flaggedShare(_ data: Dataset) throws -> Double {
            let counts = try #require(try Evaluation.evaluate(parameters, spec: spec, on: data).errorHistogram)
            let above = counts.indices.filter { $0 > ReconstructionErrors.bin(of: threshold * 0.999) }.reduce(0) { $0 + counts[$1] }
            return Double(above) / Double(data.count)
        }
        let falseAlarms = try flaggedShare(try rows(clean))
        let detected = try flaggedShare(try rows(clean, corrupt: true))
        #expect(falseAlarms <= 0.05, "clean digits flagged: \(falseAlarms) at threshold \(threshold)")
        #expect(detected >= 0.8, "corrupted digits flagged: \(detected) at threshold \(threshold)")
    }
}
