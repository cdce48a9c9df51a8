/// One tensor with only some entries stored: `indices` (ascending, into the row-major
/// values of a tensor of `count` scalars) and their `values`; every other entry is zero.
public struct SparseTensor: Sendable, Equatable {
    public var name: String
    public var indices: [UInt32]
    public var values: [Float]

    /// The entries of a tensor at `indices` (flat, ascending).
    public init(name: String, indices: [UInt32], values: [Float]) {
        self.name = name
        self.indices = indices
        self.values = values
    }
}

/// A delta with most entries dropped (top-k sparsification), tensor by tensor in the
/// model's order.
public struct SparseParameters: Sendable, Equatable {
    public var tensors: [SparseTensor]

    /// The metadata key and value that mark a sparse file, and the suffix of index tensors.
    public static let metadataKey = "fedmq.sparsity"
    public static let metadataValue = "top-k"
    public static let indicesSuffix = ".indices"
    /// The suffix of a tensor's positions sent as a bitmap (U8, `SparseIndexBitmap`) instead of indices.
    public static let bitmapSuffix = ".bitmap"

    /// Sparse tensors, in model order.
    public init(_ tensors: [SparseTensor]) {
        self.tensors = tensors
    }

    /// Number of stored entries.
    public var storedCount: Int { tensors.reduce(0) { $0 + $1.values.count } }

    public var l2Norm: Double {
        tensors.reduce(0.0) { sum, tensor in tensor.values.reduce(sum) { $0 + Double($1) * Double($1) } }.squareRoot()
    }

    /// Scales every value so that the L2 norm is at most `bound`.
    public mutating func clip(norm bound: Double) {
        let norm = l2Norm
        guard norm > bound, norm > 0 else { return }
        let factor = Float(bound / norm)
        for index in tensors.indices { tensors[index].values = tensors[index].values.map { $0 * factor } }
    }

    /// The dense parameters, shaped like `model`. Throws unless the tensors are the model's,
    /// in its order, with strictly ascending indices inside each tensor.
    public func densified(like model: Parameters) throws(CoreError) -> Parameters {
        guard tensors.map(\.name) == model.names else { throw .tensorSetMismatch(expected: model.names, actual: tensors.map(\.name)) }
        var dense = model.zeros()
        for (index, sparse) in tensors.enumerated() {
            let count = model.tensors[index].count
            guard sparse.indices.count == sparse.values.count else {
                throw .invalidSparseTensor(tensor: sparse.name, reason: "\(sparse.indices.count) indices for \(sparse.values.count) values")
            }
            var previous = -1
            for position in sparse.indices {
                let position = Int(position)
                guard position > previous else {
                    throw .invalidSparseTensor(tensor: sparse.name, reason: "indices are not strictly ascending at \(position)")
                }
                guard position < count else {
                    throw .invalidSparseTensor(tensor: sparse.name, reason: "index \(position) is outside its \(count) entries")
                }
                previous = position
            }
            dense.withValues(at: index) { values in
                for (position, value) in zip(sparse.indices, sparse.values) { values[Int(position)] = value }
            }
        }
        return dense
    }
}

extension Parameters {
    /// Top-k sparsification: keeps, in each tensor, the ceil(`fraction` x count) entries of
    /// largest magnitude (at least one; ties go to the lower index).
    public func topK(fraction: Double) -> SparseParameters {
        SparseParameters(
            tensors.map { tensor in
                let keep = Swift.min(tensor.count, Swift.max(1, Int((fraction * Double(tensor.count)).rounded(.up))))
                let order = tensor.values.indices.sorted { a, b in
                    let (x, y) = (abs(tensor.values[a]), abs(tensor.values[b]))
                    return x != y ? x > y : a < b
                }
                let kept = order.prefix(keep).sorted()
                return SparseTensor(name: tensor.name, indices: kept.map { UInt32($0) }, values: kept.map { tensor.values[$0] })
            })
    }
}
