import CGMP

/// A non-negative or negative integer of any size, held by GMP. Immutable: every operation
/// makes a new value, so values can be shared between tasks. Only this file touches GMP.
public final class BigInteger: @unchecked Sendable {
    let storage: UnsafeMutablePointer<__mpz_struct>

    private init() {
        storage = .allocate(capacity: 1)
        __gmpz_init(storage)
    }

    deinit {
        __gmpz_clear(storage)
        storage.deallocate()
    }

    /// A value made by `body` writing into a fresh integer.
    static func make(_ body: (UnsafeMutablePointer<__mpz_struct>) -> Void) -> BigInteger {
        let result = BigInteger()
        body(result.storage)
        return result
    }

    /// The integer `value`.
    public convenience init(_ value: UInt64) {
        self.init()
        __gmpz_set_ui(storage, UInt(value))
    }

    /// The integer whose big-endian bytes are `bytes` (unsigned).
    public convenience init(bigEndian bytes: [UInt8]) {
        self.init()
        guard !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { raw in __gmpz_import(storage, bytes.count, 1, 1, 1, 0, raw.baseAddress) }
    }

    /// The decimal digits `text`; nil if it is not a decimal integer.
    public convenience init?(decimal text: String) {
        self.init()
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") }), __gmpz_set_str(storage, text, 10) == 0 else {
            return nil
        }
    }

    /// The magnitude's big-endian bytes, at least `minimumCount` long (zero-padded on the left).
    public func bigEndianBytes(minimumCount: Int = 0) -> [UInt8] {
        let count = (bitWidth + 7) / 8
        var bytes = [UInt8](repeating: 0, count: max(count, minimumCount))
        if count > 0 {
            bytes.withUnsafeMutableBytes { raw in
                var written = 0
                __gmpz_export(raw.baseAddress! + (raw.count - count), &written, 1, 1, 1, 0, storage)
            }
        }
        return bytes
    }

    public var decimal: String {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: __gmpz_sizeinbase(storage, 10) + 2)
        defer { buffer.deallocate() }
        __gmpz_get_str(buffer, 10, storage)
        return String(cString: buffer)
    }

    /// Bits needed for the magnitude (0 for zero).
    public var bitWidth: Int { __gmpz_cmp_ui(storage, 0) == 0 ? 0 : __gmpz_sizeinbase(storage, 2) }
    public var isZero: Bool { __gmpz_cmp_ui(storage, 0) == 0 }
    public var isOdd: Bool { __gmpz_tstbit(storage, 0) == 1 }
    /// The low 64 bits of the magnitude.
    public var low64: UInt64 {
        let bytes = bigEndianBytes(minimumCount: 8).suffix(8)
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// a + b.
    public static func + (a: BigInteger, b: BigInteger) -> BigInteger { make { __gmpz_add($0, a.storage, b.storage) } }
    /// a - b.
    public static func - (a: BigInteger, b: BigInteger) -> BigInteger { make { __gmpz_sub($0, a.storage, b.storage) } }
    /// a · b.
    public static func * (a: BigInteger, b: BigInteger) -> BigInteger { make { __gmpz_mul($0, a.storage, b.storage) } }
    /// Floor division; `b` must not be zero.
    public static func / (a: BigInteger, b: BigInteger) -> BigInteger { make { __gmpz_fdiv_q($0, a.storage, b.storage) } }
    /// `a` shifted left by `bits`.
    public static func << (a: BigInteger, bits: Int) -> BigInteger { make { __gmpz_mul_2exp($0, a.storage, UInt(bits)) } }
    /// `a` shifted right by `bits` (floor).
    public static func >> (a: BigInteger, bits: Int) -> BigInteger { make { __gmpz_fdiv_q_2exp($0, a.storage, UInt(bits)) } }

    /// The least non-negative residue modulo `m` (m > 0).
    public func modulo(_ m: BigInteger) -> BigInteger { Self.make { __gmpz_mod($0, storage, m.storage) } }
    /// (self · b) mod m.
    public func multiplied(by b: BigInteger, modulo m: BigInteger) -> BigInteger {
        Self.make {
            __gmpz_mul($0, storage, b.storage)
            __gmpz_mod($0, $0, m.storage)
        }
    }
    /// self^e mod m (e >= 0, m odd and positive), in time that does not depend on e's bits
    /// (GMP's mpz_powm_sec) when `secret` is set.
    public func power(_ e: BigInteger, modulo m: BigInteger, secret: Bool = false) -> BigInteger {
        Self.make {
            if secret && m.isOdd && __gmpz_cmp_ui(e.storage, 0) > 0 {
                __gmpz_powm_sec($0, storage, e.storage, m.storage)
            } else {
                __gmpz_powm($0, storage, e.storage, m.storage)
            }
        }
    }
    /// The inverse modulo m; nil when there is none.
    public func inverse(modulo m: BigInteger) -> BigInteger? {
        let result = BigInteger()
        return __gmpz_invert(result.storage, storage, m.storage) != 0 ? result : nil
    }
    /// The greatest common divisor.
    public func gcd(_ b: BigInteger) -> BigInteger { Self.make { __gmpz_gcd($0, storage, b.storage) } }
    /// The least common multiple.
    public func lcm(_ b: BigInteger) -> BigInteger { Self.make { __gmpz_lcm($0, storage, b.storage) } }
    /// Whether this is prime, with error below 4^-reps for a composite (GMP: Baillie-PSW plus Miller-Rabin).
    public func isProbablePrime(reps: Int32 = 30) -> Bool { __gmpz_probab_prime_p(storage, reps) > 0 }
    /// The next prime above this one (probabilistic, as GMP's mpz_nextprime).
    public var nextPrime: BigInteger { Self.make { __gmpz_nextprime($0, storage) } }

    /// The version of the GMP library in use, as it reports it.
    public static var libraryVersion: String { String(cString: __gmp_version) }

    /// -1, 0 or 1 as self is below, equal to or above `other`.
    public func compare(_ other: BigInteger) -> Int { Int(__gmpz_cmp(storage, other.storage).signum()) }
}

extension BigInteger: Equatable, Comparable, CustomStringConvertible {
    /// Equal values.
    public static func == (a: BigInteger, b: BigInteger) -> Bool { a.compare(b) == 0 }
    /// Numeric order.
    public static func < (a: BigInteger, b: BigInteger) -> Bool { a.compare(b) < 0 }
    public var description: String { decimal }
}

extension BigInteger {
    /// A uniformly random integer of exactly `bits` bits from `random` (top bit set).
    public static func random(bits: Int, using random: inout some RandomNumberGenerator) -> BigInteger {
        var bytes = (0..<(bits + 7) / 8).map { _ in UInt8.random(in: .min ... .max, using: &random) }
        let excess = bytes.count * 8 - bits
        bytes[0] &= UInt8(0xFF >> excess)
        bytes[0] |= UInt8(0x80 >> excess)
        return BigInteger(bigEndian: bytes)
    }

    /// A uniformly random integer in 1..<bound from `random` (rejection sampling).
    public static func random(below bound: BigInteger, using random: inout some RandomNumberGenerator) -> BigInteger {
        let bits = bound.bitWidth
        while true {
            var bytes = (0..<(bits + 7) / 8).map { _ in UInt8.random(in: .min ... .max, using: &random) }
            bytes[0] &= UInt8(0xFF >> (bytes.count * 8 - bits))
            let candidate = BigInteger(bigEndian: bytes)
            if !candidate.isZero && candidate < bound { return candidate }
        }
    }
}
