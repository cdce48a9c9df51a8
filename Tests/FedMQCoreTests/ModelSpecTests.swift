import FedMQCore
import Testing

@Suite("Model specs")
struct ModelSpecTests {
    @Test("a spec survives JSON, and the layout follows the wire order")
    func json() throws {
        let spec = ModelSpec(
            kind: .mlp, inputs: 64, hidden: [32], outputs: 10,
            scaling: FeatureScaling(mean: .init(repeating: 0.5, count: 64), std: .init(repeating: 2, count: 64)))
        #expect(try ModelSpec.parse(spec.jsonString()) == spec)
        #expect(spec.parameterLayout.map(\.name) == ["W1", "b1", "W2", "b2"])
        #expect(spec.parameterLayout.map(\.shape) == [[64, 32], [32], [32, 10], [10]])
        #expect(ModelSpec(kind: .softmaxRegression, inputs: 64, outputs: 10).parameterLayout.map(\.name) == ["W", "b"])
        #expect(try spec.initialParameters(seed: 0).count == 64 * 32 + 32 + 32 * 10 + 10)
    }

    @Test(
        "invalid specs are refused with a reason",
        arguments: [
            #"{"version":2,"kind":"mlp","inputs":4,"hidden":[3],"outputs":2,"activation":"relu"}"#,
            #"{"version":1,"kind":"mlp","inputs":4,"hidden":[],"outputs":2,"activation":"relu"}"#,
            #"{"version":1,"kind":"softmax_regression","inputs":0,"hidden":[],"outputs":2,"activation":"relu"}"#,
            #"{"version":1,"kind":"linear_regression","inputs":4,"hidden":[],"outputs":3,"activation":"relu"}"#,
            #"{"version":1,"kind":"tree","inputs":4,"hidden":[],"outputs":2,"activation":"relu"}"#,
            "not json",
        ])
    func invalid(json: String) {
        #expect(throws: CoreError.self) { try ModelSpec.parse(json) }
    }

    @Test("MLP initialisation is He-uniform and seeded; linear models start at zero")
    func initialisation() throws {
        let spec = ModelSpec(kind: .mlp, inputs: 64, hidden: [32], outputs: 10)
        let first = try spec.initialParameters(seed: 5)
        #expect(try spec.initialParameters(seed: 5) == first)
        #expect(try spec.initialParameters(seed: 6) != first)
        let limit = Float((6.0 / 64).squareRoot())
        #expect(first["W1"]!.values.allSatisfy { abs($0) <= limit })
        #expect(first["W1"]!.values.max()! > limit * 0.9)
        #expect(first["b1"]!.values.allSatisfy { $0 == 0 })
        #expect(try ModelSpec(kind: .softmaxRegression, inputs: 3, outputs: 2).initialParameters(seed: 1).l2Norm == 0)
    }

    @Test("a spec's JSON: hidden and activation may be left out; an unknown key or kind is refused, naming the valid ones")
    func specJSON() throws {
        let minimal = try ModelSpec.parse(#"{"version":1,"kind":"softmax_regression","inputs":30,"outputs":2}"#)
        #expect(minimal == ModelSpec(kind: .softmaxRegression, inputs: 30, outputs: 2))
        #expect(try ModelSpec.parse(minimal.jsonString()) == minimal)
        #expect {
            try ModelSpec.parse(#"{"version":1,"kind":"mlp","inputs":3,"hiden":[4],"outputs":2}"#)
        } throws: { "\($0)".contains("unknown key(s) hiden") && "\($0)".contains("hidden") }
        #expect {
            try ModelSpec.parse(#"{"version":1,"kind":"cnn","inputs":3,"outputs":2}"#)
        } throws: { "\($0)".contains("unknown kind 'cnn' (valid: softmax_regression, mlp, linear_regression, statistics, sequential, external)") }
    }
}
