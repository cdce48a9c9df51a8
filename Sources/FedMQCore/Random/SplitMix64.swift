/// The SplitMix64 generator: small, fast, and bit-for-bit reproducible across languages.
/// FedMQ uses it wherever a seed must give the same stream everywhere (shuffles, inits,
/// partitions); the shared benchmark task defines its shuffles with it.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 bits of the sequence.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A permutation of 0..<n by the Fisher–Yates walk from the top, with `next() % (i + 1)`
    /// (the benchmark task's definition; the modulo bias is negligible for data-set sizes).
    public mutating func permutation(_ n: Int) -> [Int] {
        var order = Array(0..<n)
        var i = n - 1
        while i > 0 {
            let j = Int(next() % UInt64(i + 1))
            order.swapAt(i, j)
            i -= 1
        }
        return order
    }
}
