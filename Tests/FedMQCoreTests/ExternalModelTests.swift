import FedMQCore
import Foundation
import Testing

/// A safetensors file as another tool writes it: entries of any dtype, in the given order.
func foreignSafetensors(_ entries: [(name: String, dtype: String, shape: [Int], bytes: [UInt8])]) -> [UInt8] {
    var header: [String: Any] = [:]
    var data: [UInt8] = []
    for entry in entries {
        header[entry.name] = ["dtype": entry.dtype, "shape": entry.shape, "data_offsets": [data.count, data.count + entry.bytes.count]]
        data += entry.bytes
    }
    var json = Array((try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data())
    while json.count % 8 != 0 { json.append(0x20) }
    return (0..<8).map { UInt8(truncatingIfNeeded: json.count >> (8 * $0)) } + json + data
}

func littleEndianBytes(_ values: [Double]) -> [UInt8] {
    values.flatMap { value in (0..<8).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * $0)) } }
}
func littleEndianBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * $0)) } }
}
/// bfloat16: the upper half of each float32 (exact for values with 8 significant bits).
func bfloat16Bytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { value in [UInt8(truncatingIfNeeded: value.bitPattern >> 16), UInt8(value.bitPattern >> 24)] }
}

@Suite("External models and importing other tools' weights")
struct ExternalModelTests {
    let cnn = ModelSpec(external: [TensorSpec(name: "conv.weight", shape: [8, 6, 5]), TensorSpec(name: "fc.bias", shape: [4])], outputs: 4)

    @Test("an external spec lists its tensors, survives JSON without the native fields, and has no built-in training or initialisation")
    func externalSpec() throws {
        try cnn.validate()
        #expect(cnn.parameterLayout.map(\.name) == ["conv.weight", "fc.bias"])
        #expect(cnn.parameterLayout.map(\.shape) == [[8, 6, 5], [4]])
        let json = cnn.jsonString()
        #expect(
            json == #"{"kind":"external","outputs":4,"tensors":[{"name":"conv.weight","shape":[8,6,5]},{"name":"fc.bias","shape":[4]}],"version":1}"#)
        #expect(try ModelSpec.parse(json) == cnn)
        #expect(!cnn.isNative && !cnn.isClassifier)
        let noInit = #expect(throws: CoreError.self) { try cnn.initialParameters(seed: 0) }
        #expect(noInit?.description.contains("initial_model") == true)
        let noTraining = #expect(throws: CoreError.self) { try DenseNetwork(spec: cnn) }
        #expect(noTraining?.description.contains("trainer command") == true)
        // A native spec still encodes every field, as before.
        #expect(
            ModelSpec(kind: .softmaxRegression, inputs: 2, outputs: 3).jsonString()
                == #"{"activation":"relu","hidden":[],"inputs":2,"kind":"softmax_regression","outputs":3,"version":1}"#)
    }

    @Test(
        "external specs that make no model are refused by name",
        arguments: [
            (#"{"version":1,"kind":"external"}"#, "needs 'tensors'"),
            (#"{"version":1,"kind":"external","tensors":[]}"#, "needs 'tensors'"),
            (#"{"version":1,"kind":"external","tensors":[{"name":"a","shape":[2]},{"name":"a","shape":[3]}]}"#, "listed twice"),
            (#"{"version":1,"kind":"external","tensors":[{"name":"a","shape":[2,0]}]}"#, "positive sizes"),
            (#"{"version":1,"kind":"external","tensors":[{"name":"a","shape":[]}]}"#, "positive sizes"),
            (#"{"version":1,"kind":"external","tensors":[{"name":"a","shape":[65536,65536]}]}"#, "at most"),
            (#"{"version":1,"kind":"external","tensors":[{"name":"","shape":[2]}]}"#, "must be 1 to 256 bytes"),
            (#"{"version":1,"kind":"external","tensors":[{"name":"__metadata__","shape":[2]}]}"#, "not start with '__'"),
            (#"{"version":1,"kind":"external","hidden":[3],"tensors":[{"name":"a","shape":[2]}]}"#, "no 'hidden'"),
            (#"{"version":1,"kind":"external","tensors":[{"name":"a","shape":[2],"dtype":"F32"}]}"#, "dtype"),
            (#"{"version":1,"kind":"mlp","inputs":2,"hidden":[2],"outputs":2,"tensors":[{"name":"a","shape":[2]}]}"#, "only an external model"),
        ])
    func invalidExternal(json: String, reason: String) {
        let error = #expect(throws: CoreError.self) { try ModelSpec.parse(json) }
        #expect(error?.description.contains(reason) == true, "\(error.map { "\($0)" } ?? "")")
    }

    @Test("another tool's file: F64 and BF16 become float32, F16 and F32 read as always, integer tensors are listed unread")
    func foreignFile() throws {
        let bytes = foreignSafetensors([
            ("double", "F64", [3], littleEndianBytes([0.5, -1.25, 1e-3])),
            ("brain", "BF16", [2], bfloat16Bytes([1.5, -2])),
            ("single", "F32", [1], littleEndianBytes([Float(7)])),
            ("steps", "I64", [1], [9, 0, 0, 0, 0, 0, 0, 0]),
            ("mask", "BOOL", [2], [1, 0]),
        ])
        let (file, skipped) = try SafetensorsDecoder.decodeForeign(bytes)
        #expect(file.tensors.map(\.name) == ["double", "brain", "single"])
        #expect(file.tensors[0].values == [0.5, -1.25, Float(1e-3)])
        #expect(file.tensors[1].values == [1.5, -2])
        #expect(file.tensors[2].values == [7])
        #expect(skipped == ["steps": "I64", "mask": "BOOL"])
        // The wire decoder keeps refusing what FedMQ never sends.
        let refused = #expect(throws: CoreError.self) { try SafetensorsDecoder.decode(bytes) }
        // (Which entry it names first depends on the header's order.)
        #expect(refused?.description.contains("is not F32, F16, I8, U32 (indices) or U8 (bytes)") == true, "\(refused.map { "\($0)" } ?? "")")
        // Lengths are checked as strictly as on the wire: an F64 entry with an F32's bytes is refused.
        let short = foreignSafetensors([("double", "F64", [2], littleEndianBytes([Float(1), 2]))])
        #expect(throws: CoreError.self) { try SafetensorsDecoder.decodeForeign(short) }
    }

    @Test("PyTorch's (out, in) Linear weights are transposed into an MLP's (in, out) ones under the spec's names")
    func pytorchLayout() throws {
        let spec = ModelSpec(kind: .mlp, inputs: 3, hidden: [2], outputs: 2)
        // fc1.weight[o][i] = 10 o + i
        let fc1 = [Float]([0, 1, 2, 10, 11, 12])
        let file = try SafetensorsDecoder.decodeForeign(
            foreignSafetensors([
                ("fc1.weight", "F64", [2, 3], littleEndianBytes(fc1.map(Double.init))),
                ("fc1.bias", "F32", [2], littleEndianBytes([Float(1), 2])),
                ("fc2.weight", "F32", [2, 2], littleEndianBytes([Float(1), 2, 3, 4])),
                ("fc2.bias", "F32", [2], littleEndianBytes([Float(0), 0])),
                ("fc2.num_batches_tracked", "I64", [1], [0, 0, 0, 0, 0, 0, 0, 0]),
            ]))
        let result = try ModelImport.parameters(
            for: spec, from: file.file, skipped: file.skipped, layout: .outIn,
            sources: ["W1": "fc1.weight", "b1": "fc1.bias", "W2": "fc2.weight", "b2": "fc2.bias"])
        #expect(result.parameters.names == ["W1", "b1", "W2", "b2"])
        #expect(result.parameters["W1"]?.shape == [3, 2])
        // W1[i][o] = fc1.weight[o][i]
        #expect(result.parameters["W1"]?.values == [0, 10, 1, 11, 2, 12])
        #expect(result.parameters["W2"]?.values == [1, 3, 2, 4])
        #expect(result.unused == ["fc2.num_batches_tracked": "I64"])
        try spec.check(result.parameters)
    }

    @Test("every missing tensor, mismatched shape, integer source and non-finite value is named in one message, with what the file holds")
    func everyProblemAtOnce() throws {
        let spec = ModelSpec(kind: .mlp, inputs: 3, hidden: [2], outputs: 2)
        let file = try SafetensorsDecoder.decodeForeign(
            foreignSafetensors([
                ("W1", "F32", [2, 3], littleEndianBytes([Float](repeating: 1, count: 6))),
                ("b1", "F32", [2], littleEndianBytes([Float.nan, 0])),
                ("b2", "I64", [2], [UInt8](repeating: 0, count: 16)),
            ]))
        let error = #expect(throws: CoreError.self) {
            try ModelImport.parameters(for: spec, from: file.file, skipped: file.skipped, sources: ["W3": "x"])
        }
        let text = error?.description ?? ""
        for part in [
            "'W3' is not a tensor of this model", "W1 (source 'W1') has shape [2, 3] in in-out layout, the model needs [3, 2]",
            "b1 (source 'b1') holds a non-finite value at index 0", "W2 (source 'W2', shape [2, 2]) is missing", "b2 (source 'b2', shape [2]) is I64",
            "the file holds W1 [2, 3], b1 [2], b2 (I64)",
        ] {
            #expect(text.contains(part), "\(part) not in: \(text)")
        }
    }

    @Test("an external spec made from a file keeps its float tensors in the file's order and imports them unchanged")
    func externalFromFile() throws {
        let file = try SafetensorsDecoder.decodeForeign(
            foreignSafetensors([
                ("conv.weight", "F32", [2, 1, 3], littleEndianBytes([Float(1), 2, 3, 4, 5, 6])),
                ("conv.bias", "F16", [2], [0, 0x3C, 0, 0xC0]),
                ("steps", "I64", [1], [UInt8](repeating: 0, count: 8)),
            ]))
        let spec = try ModelImport.externalSpec(of: file.file, outputs: 2)
        #expect(spec.tensors == [TensorSpec(name: "conv.weight", shape: [2, 1, 3]), TensorSpec(name: "conv.bias", shape: [2])])
        // Layouts of an external model stay the framework's own, whatever --layout says.
        let result = try ModelImport.parameters(for: spec, from: file.file, skipped: file.skipped, layout: .outIn)
        #expect(result.parameters["conv.weight"]?.values == [1, 2, 3, 4, 5, 6])
        #expect(result.parameters["conv.bias"]?.values == [1, -2])
        #expect(result.unused == ["steps": "I64"])
    }
}
