import Foundation

/// A decoded safetensors payload: float32 tensors (dequantized), in data-offset order, and
/// the `__metadata__` string map.
public struct SafetensorsFile: Sendable, Equatable {
    public var tensors: [Tensor]
    public var metadata: [String: String]
    /// The stored encoding of each tensor, by name.
    public var encodings: [String: TensorEncoding]

    public init(tensors: [Tensor], metadata: [String: String], encodings: [String: TensorEncoding]) {
        self.tensors = tensors
        self.metadata = metadata
        self.encodings = encodings
    }

    /// The tensors as `Parameters`, in the order of `names` (a model's layout); throws when the
    /// set of names differs.
    public func parameters(orderedAs names: [String]) throws(CoreError) -> Parameters {
        guard Set(names) == Set(tensors.map(\.name)), names.count == tensors.count else {
            throw .tensorSetMismatch(expected: names, actual: tensors.map(\.name))
        }
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        return try Parameters(names.compactMap { byName[$0] })
    }
}

/// Limits that keep a hostile payload from costing more than it should.
public struct SafetensorsLimits: Sendable {
    public var maxHeaderBytes: Int
    public var maxTensors: Int

    public init(maxHeaderBytes: Int = 1 << 20, maxTensors: Int = 4096) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxTensors = maxTensors
    }
}
