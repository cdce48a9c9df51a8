import FedMQCore
import Testing

@Suite("Top-k sparsification and sparse safetensors")
struct SparsificationTests {
    let model = try! Parameters([
        Tensor(name: "W", shape: [5], values: [0.1, -3, 2, 0.5, -2]),
        Tensor(name: "b", shape: [2, 2], values: [0, 0.25, -0.5, 0.125]),
    ])

    @Test("keeps the ceil(f x n) largest magnitudes per tensor, ties to the lower index, in ascending order")
    func selectsLargest() {
        let kept = model.topK(fraction: 0.4)
        #expect(kept.tensors[0] == SparseTensor(name: "W", indices: [1, 2], values: [-3, 2]))
        #expect(kept.tensors[1] == SparseTensor(name: "b", indices: [1, 2], values: [0.25, -0.5]))
        #expect(model.topK(fraction: 0.01).storedCount == 2)  // at least one per tensor
        #expect(model.topK(fraction: 1).tensors.map(\.indices) == [[0, 1, 2, 3, 4], [0, 1, 2, 3]])
    }

    @Test("densifying puts the kept values back in place and zeros the rest")
    func densifies() throws {
        let dense = try model.topK(fraction: 0.4).densified(like: model)
        #expect(dense.tensors.map(\.values) == [[0, -3, 2, 0, 0], [0, 0.25, -0.5, 0]])
        #expect(dense.shapes == model.shapes)
        #expect(try model.topK(fraction: 1).densified(like: model) == model)
    }

    @Test("densifying refuses indices out of order, repeated, out of range or unmatched by values")
    func refusesBadIndices() {
        let cases: [([UInt32], [Float], String)] = [
            ([2, 1], [1, 1], "indices are not strictly ascending at 1"),
            ([1, 1], [1, 1], "indices are not strictly ascending at 1"),
            ([5], [1], "index 5 is outside its 5 entries"),
            ([1, 2], [1], "2 indices for 1 values"),
        ]
        for (indices, values, reason) in cases {
            let sparse = SparseParameters([
                SparseTensor(name: "W", indices: indices, values: values), SparseTensor(name: "b", indices: [0], values: [1]),
            ])
            #expect(throws: CoreError.invalidSparseTensor(tensor: "W", reason: reason)) { try sparse.densified(like: model) }
        }
        let misnamed = SparseParameters([SparseTensor(name: "b", indices: [0], values: [1]), SparseTensor(name: "W", indices: [0], values: [1])])
        #expect(throws: CoreError.tensorSetMismatch(expected: ["W", "b"], actual: ["b", "W"])) { try misnamed.densified(like: model) }
    }

    @Test("clipping scales the kept values to the bound")
    func clips() {
        var kept = model.topK(fraction: 0.4)
        kept.clip(norm: 1)
        #expect(abs(kept.l2Norm - 1) < 1e-6)
        #expect(kept.tensors[0].indices == [1, 2])
    }

    @Test("a sparse file stores values in the encoding and U32 indices, and decodes back exactly")
    func roundTrips() throws {
        let kept = model.topK(fraction: 0.4)
        let bytes = SafetensorsEncoder.encode(sparse: kept, encoding: .float16, metadata: ["k": "v"])
        let file = try SafetensorsDecoder.decode(bytes)
        #expect(file.isSparse)
        #expect(file.metadata["k"] == "v")
        #expect(file.indices == ["W.indices": [1, 2], "b.indices": [1, 2]])
        #expect(file.encodings == ["W": .float16, "b": .float16])
        #expect(try file.sparseParameters(orderedAs: ["W", "b"]) == kept)  // these values are exact in float16
        // 2 values x 2 bytes + 2 indices x 4 bytes per tensor.
        #expect(bytes.count == 8 + Int(bytes[0]) + Int(bytes[1]) << 8 + 2 * (2 * 2 + 2 * 4))
        #expect(throws: CoreError.self) { try file.parameters(orderedAs: ["W", "b"]) }  // not a dense file

        let int8 = try SafetensorsDecoder.decode(SafetensorsEncoder.encode(sparse: kept, encoding: .int8))
        let values = try int8.sparseParameters(orderedAs: ["W", "b"]).tensors.flatMap(\.values)
        #expect(zip(values, kept.tensors.flatMap(\.values)).allSatisfy { abs($0 - $1) <= 3.0 / 127 / 2 + 1e-6 })
    }

    @Test("index tensors must be 1-D U32 with the right byte length")
    func refusesBadIndexTensors() {
        func file(_ entry: String, data: Int) -> [UInt8] {
            var header = Array("{\"i\":\(entry)}".utf8)
            while header.count % 8 != 0 { header.append(32) }
            return withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header + [UInt8](repeating: 0, count: data)
        }
        #expect(throws: CoreError.safetensors(.invalidEntry(tensor: "i", reason: "an index tensor must be 1-D"))) {
            try SafetensorsDecoder.decode(file("{\"dtype\":\"U32\",\"shape\":[1,2],\"data_offsets\":[0,8]}", data: 8))
        }
        #expect(throws: CoreError.safetensors(.byteLengthMismatch(tensor: "i", expected: 8, actual: 6))) {
            try SafetensorsDecoder.decode(file("{\"dtype\":\"U32\",\"shape\":[2],\"data_offsets\":[0,6]}", data: 6))
        }
        #expect(throws: CoreError.safetensors(.unsupportedDType(tensor: "i", dtype: "I32"))) {
            try SafetensorsDecoder.decode(file("{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}", data: 8))
        }
    }
}
