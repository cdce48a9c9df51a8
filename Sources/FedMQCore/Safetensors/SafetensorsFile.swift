import FoundationEssentials

/// A decoded safetensors payload: float32 tensors (dequantized), in data-offset order, and
/// the `__metadata__` string map.
public struct SafetensorsFile: Sendable, Equatable {
    public var tensors: [Tensor]
    public var metadata: [String: String]
    /// The stored encoding of each tensor, by name.
    public var encodings: [String: TensorEncoding]
    /// Index tensors (dtype U32, 1-D), by name: the positions of a sparse tensor's values.
    public var indices: [String: [UInt32]]

    /// Byte tensors (dtype U8), by name: opaque data such as ciphertexts.
    public var blobs: [String: ByteBlob]

    /// The dtype of index tensors.
    public static let indexDType = "U32"
    /// The dtype of byte blobs.
    public static let blobDType = "U8"

    /// A decoded file: tensors with the encoding each was stored in, and the metadata.
    public init(
        tensors: [Tensor], metadata: [String: String], encodings: [String: TensorEncoding], indices: [String: [UInt32]] = [:],
        blobs: [String: ByteBlob] = [:]
    ) {
        self.tensors = tensors
        self.metadata = metadata
        self.encodings = encodings
        self.indices = indices
        self.blobs = blobs
    }

    /// Whether the file holds a sparse delta (metadata `fedmq.sparsity` = `top-k`).
    public var isSparse: Bool { metadata[SparseParameters.metadataKey] == SparseParameters.metadataValue }

    /// The tensors as `Parameters`, in the order of `names` (a model's layout); throws when the
    /// set of names differs.
    public func parameters(orderedAs names: [String]) throws(CoreError) -> Parameters {
        guard blobs.isEmpty else { throw .tensorSetMismatch(expected: names, actual: tensors.map(\.name) + blobs.keys.sorted()) }
        guard indices.isEmpty else { throw .tensorSetMismatch(expected: names, actual: tensors.map(\.name) + indices.keys.sorted()) }
        guard Set(names) == Set(tensors.map(\.name)), names.count == tensors.count else {
            throw .tensorSetMismatch(expected: names, actual: tensors.map(\.name))
        }
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        return try Parameters(names.compactMap { byName[$0] })
    }

    /// A sparse file's tensors in the order of `names`: each name's values (1-D) and its
    /// positions, as `<name>.indices` or as `<name>.bitmap` (1-D), and nothing else.
    public func sparseParameters(orderedAs names: [String]) throws(CoreError) -> SparseParameters {
        let positions = names.map { name in
            indices[name + SparseParameters.indicesSuffix] != nil ? name + SparseParameters.indicesSuffix : name + SparseParameters.bitmapSuffix
        }
        let present = indices.keys.sorted() + blobs.keys.sorted()
        guard Set(names) == Set(tensors.map(\.name)), names.count == tensors.count, Set(positions) == Set(present),
            positions.count == present.count
        else {
            throw .tensorSetMismatch(expected: names + positions, actual: tensors.map(\.name) + present)
        }
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        var sparse: [SparseTensor] = []
        for name in names {
            guard let tensor = byName[name], tensor.shape.count == 1 else {
                throw .invalidSparseTensor(tensor: name, reason: "its values must be a 1-D tensor")
            }
            let kept: [UInt32]
            if let listed = indices[name + SparseParameters.indicesSuffix] {
                kept = listed
            } else if let bitmap = blobs[name + SparseParameters.bitmapSuffix], bitmap.shape.count == 1 {
                // Counted before the positions are listed: a bitmap of ones would list 8 per byte.
                let marked = bitmap.bytes.reduce(0) { $0 + $1.nonzeroBitCount }
                guard marked == tensor.values.count else {
                    throw .invalidSparseTensor(tensor: name, reason: "its bitmap marks \(marked) positions for \(tensor.values.count) values")
                }
                kept = SparseIndexBitmap.indices(of: bitmap.bytes)
            } else {
                throw .invalidSparseTensor(tensor: name, reason: "its bitmap must be a 1-D tensor")
            }
            sparse.append(SparseTensor(name: name, indices: kept, values: tensor.values))
        }
        return SparseParameters(sparse)
    }
}

/// A U8 tensor: bytes with a shape, which FedMQ does not interpret as numbers.
public struct ByteBlob: Sendable, Equatable {
    public var shape: [Int]
    public var bytes: [UInt8]

    /// `bytes`, laid out as `shape` (row-major).
    public init(shape: [Int], bytes: [UInt8]) {
        self.shape = shape
        self.bytes = bytes
    }
}

/// Limits that keep a hostile payload from costing more than it should.
public struct SafetensorsLimits: Sendable {
    public var maxHeaderBytes: Int
    public var maxTensors: Int

    /// Bounds on the JSON header and the tensor count.
    public init(maxHeaderBytes: Int = 1 << 20, maxTensors: Int = 4096) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxTensors = maxTensors
    }
}
