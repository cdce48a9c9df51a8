/// A model's parameters (or a delta of them): named tensors in a fixed order.
///
/// The order is the wire order (for example W1, b1, W2, b2) and is part of the model.
public struct Parameters: Sendable, Equatable {
    public private(set) var tensors: [Tensor]

    /// A model's tensors in order; names must be unique.
    public init(_ tensors: [Tensor]) throws(CoreError) {
        var seen = Set<String>()
        for tensor in tensors where !seen.insert(tensor.name).inserted {
            throw .invalidModel("tensor name '\(tensor.name)' appears twice")
        }
        self.tensors = tensors
    }

    public var names: [String] { tensors.map(\.name) }
    public var shapes: [[Int]] { tensors.map(\.shape) }
    /// Total number of scalars.
    public var count: Int { tensors.reduce(0) { $0 + $1.count } }

    /// The tensor named `name`, if any.
    public subscript(name: String) -> Tensor? {
        tensors.first { $0.name == name }
    }

    /// Zeros with the same names and shapes.
    public func zeros() -> Parameters {
        var copy = self
        for index in copy.tensors.indices {
            copy.tensors[index].values = [Float](repeating: 0, count: copy.tensors[index].count)
        }
        return copy
    }

    /// `values`, in wire order, with this model's names and shapes; throws unless there are exactly `count` of them.
    public func reshaped(_ values: [Float]) throws(CoreError) -> Parameters {
        guard values.count == count else { throw .invalidModel("\(values.count) values do not fill a model of \(count) parameters") }
        var copy = self
        var offset = 0
        for index in copy.tensors.indices {
            let length = copy.tensors[index].count
            copy.tensors[index].values = Array(values[offset..<offset + length])
            offset += length
        }
        return copy
    }

    /// Throws unless `other` has the same tensor names and shapes, in the same order.
    public func checkCompatible(with other: Parameters) throws(CoreError) {
        guard names == other.names else { throw .tensorSetMismatch(expected: names, actual: other.names) }
        for (mine, theirs) in zip(tensors, other.tensors) where mine.shape != theirs.shape {
            throw .shapeMismatch(tensor: mine.name, expected: mine.shape, actual: theirs.shape)
        }
    }

    /// Gives mutable access to tensor `index`'s values (for the math and the optimizers).
    mutating func withValues<Result>(at index: Int, _ body: (inout [Float]) throws -> Result) rethrows -> Result {
        try body(&tensors[index].values)
    }
}
