#if canImport(Glibc)
    import Glibc
#endif

/// The kernel's cryptographic random source, read 4 KiB at a time (`arc4random_buf`, which
/// glibc serves from `getrandom`).
///
/// `SystemRandomNumberGenerator` makes one system call per 64-bit word; the exact discrete
/// Gaussian sampler draws a dozen or more words per noised entry, so for a model of a million
/// parameters that cost seconds per update. The bytes are the same kernel CSPRNG's; the
/// buffer lives in this process only.
public struct KernelRandom: RandomNumberGenerator, Sendable {
    private var buffer = [UInt64](repeating: 0, count: 512)
    private var position = 512

    /// An empty buffer, filled on first use.
    public init() {}

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        if position == buffer.count { refill() }
        defer { position += 1 }
        return buffer[position]
    }

    private mutating func refill() {
        buffer.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress { arc4random_buf(base, raw.count) }
        }
        position = 0
    }
}
