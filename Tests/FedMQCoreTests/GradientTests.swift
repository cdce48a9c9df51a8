import FedMQCore
import Testing

@Suite("Gradients agree with finite differences")
struct GradientTests {
    static let specs: [ModelSpec] = [
        ModelSpec(kind: .softmaxRegression, inputs: 5, outputs: 3),
        ModelSpec(kind: .mlp, inputs: 5, hidden: [6, 4], outputs: 3),
        ModelSpec(kind: .linearRegression, inputs: 5, outputs: 1),
    ]

    @Test("analytic gradient matches central differences", arguments: specs)
    func finiteDifferences(spec: ModelSpec) throws {
        var random = SplitMix64(seed: 11)
        var parameters = try spec.initialParameters(seed: 3)
        // Start away from zero so every path (ReLU on both sides, all classes) is exercised.
        for index in parameters.tensors.indices {
            let values = parameters.tensors[index].values.map { $0 + Float(random.nextGaussian() * 0.5) }
            parameters = try Parameters(
                parameters.tensors.enumerated().map { offset, old in
                    offset == index ? try Tensor(name: old.name, shape: old.shape, values: values) : old
                })
        }
        let rows = 7
        let features = (0..<(rows * spec.inputs)).map { _ in Float(random.nextGaussian()) }
        let targets: [Float] = (0..<rows).map { row in
            spec.isClassifier ? Float(row % spec.outputs) : Float(random.nextGaussian())
        }
        var network = try DenseNetwork(spec: spec)
        var gradient = parameters.zeros()
        func loss(_ p: Parameters) -> Double {
            var scratch = p.zeros()
            return features.withUnsafeBufferPointer { f in
                targets.withUnsafeBufferPointer { t in network.lossAndGradient(p, features: f, targets: t, rows: rows, into: &scratch) }
            }
        }
        _ = features.withUnsafeBufferPointer { f in
            targets.withUnsafeBufferPointer { t in network.lossAndGradient(parameters, features: f, targets: t, rows: rows, into: &gradient) }
        }
        let step: Float = 1e-2
        var worst = 0.0
        for index in parameters.tensors.indices {
            for element in parameters.tensors[index].values.indices {
                var plus = parameters
                var minus = parameters
                plus = try replacing(plus, index, element, parameters.tensors[index].values[element] + step)
                minus = try replacing(minus, index, element, parameters.tensors[index].values[element] - step)
                let numeric = (loss(plus) - loss(minus)) / Double(2 * step)
                let analytic = Double(gradient.tensors[index].values[element])
                worst = max(worst, abs(numeric - analytic) / max(1e-2, abs(numeric) + abs(analytic)))
            }
        }
        #expect(worst < 2e-2, "worst relative gradient error \(worst) for \(spec.kind)")
    }

    private func replacing(_ p: Parameters, _ index: Int, _ element: Int, _ value: Float) throws -> Parameters {
        var values = p.tensors[index].values
        values[element] = value
        let old = p.tensors[index]
        var tensors = p.tensors
        tensors[index] = try Tensor(name: old.name, shape: old.shape, values: values)
        return try Parameters(tensors)
    }
}

extension ModelSpec: CustomTestStringConvertible {
    public var testDescription: String { "\(kind.rawValue) \(layerSizes)" }
}
