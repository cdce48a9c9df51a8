/// A named float32 tensor, row-major.
public struct Tensor: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var values: [Float]

    /// Checks that `values.count` equals the product of `shape`.
    public init(name: String, shape: [Int], values: [Float]) throws(CoreError) {
        guard shape.allSatisfy({ $0 >= 0 }), let count = Tensor.elementCount(shape), count == values.count else {
            throw .shapeMismatch(tensor: name, expected: shape, actual: [values.count])
        }
        self.name = name
        self.shape = shape
        self.values = values
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int], name: String) {
        self.name = name
        self.shape = shape
        values = [Float](repeating: 0, count: Tensor.elementCount(shape) ?? 0)
    }

    public var count: Int { values.count }

    /// The product of `shape`, or nil if it overflows.
    public static func elementCount(_ shape: [Int]) -> Int? {
        var total = 1
        for dimension in shape {
            let (product, overflow) = total.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            total = product
        }
        return total
    }
}
