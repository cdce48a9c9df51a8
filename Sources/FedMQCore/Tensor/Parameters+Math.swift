/// The vector operations federated learning needs, over all tensors at once, in place.
extension Parameters {
    /// self += other
    public mutating func add(_ other: Parameters) throws(CoreError) {
        try axpy(1, other)
    }

    /// self -= other
    public mutating func subtract(_ other: Parameters) throws(CoreError) {
        try axpy(-1, other)
    }

    /// self *= factor
    public mutating func scale(by factor: Float) {
        for index in tensors.indices {
            withValues(at: index) { values in
                for i in values.indices { values[i] *= factor }
            }
        }
    }

    /// self += alpha * x
    public mutating func axpy(_ alpha: Float, _ x: Parameters) throws(CoreError) {
        try checkCompatible(with: x)
        for index in tensors.indices {
            x.tensors[index].values.withUnsafeBufferPointer { source in
                withValues(at: index) { values in
                    for i in values.indices { values[i] += alpha * source[i] }
                }
            }
        }
    }

    /// Sum over all tensors of the elementwise product, accumulated in double precision.
    public func dot(_ other: Parameters) throws(CoreError) -> Double {
        try checkCompatible(with: other)
        var sum = 0.0
        for (mine, theirs) in zip(tensors, other.tensors) {
            for i in mine.values.indices { sum += Double(mine.values[i]) * Double(theirs.values[i]) }
        }
        return sum
    }

    /// The L2 norm over all tensors jointly.
    public var l2Norm: Double {
        var sum = 0.0
        for tensor in tensors {
            for value in tensor.values { sum += Double(value) * Double(value) }
        }
        return sum.squareRoot()
    }

    /// Clamps every value into `-bound...bound`.
    public mutating func clip(elementwise bound: Float) {
        for index in tensors.indices {
            withValues(at: index) { values in
                for i in values.indices { values[i] = min(bound, max(-bound, values[i])) }
            }
        }
    }

    /// Scales the whole set down so its joint L2 norm is at most `bound`; returns the norm
    /// before clipping.
    @discardableResult
    public mutating func clip(norm bound: Double) -> Double {
        let norm = l2Norm
        if norm > bound && norm > 0 { scale(by: Float(bound / norm)) }
        return norm
    }

    /// True when every value is finite (no NaN or infinity).
    public var allFinite: Bool {
        // The largest exponent field: all ones only for NaN and infinity. A branch-free loop that
        // the compiler vectorizes (it runs on every update the aggregator receives).
        tensors.allSatisfy { tensor in
            tensor.values.reduce(UInt32(0)) { Swift.max($0, $1.bitPattern & 0x7F80_0000) } != 0x7F80_0000
        }
    }
}
