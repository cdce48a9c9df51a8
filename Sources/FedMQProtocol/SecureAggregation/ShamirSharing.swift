import FoundationEssentials

/// Shamir secret sharing over GF(2^8), byte by byte: each byte of a secret is the constant
/// term of its own random polynomial of degree `threshold - 1`; a share is the polynomials'
/// values at one non-zero point x. Any `threshold` shares give the secret back (Lagrange
/// interpolation at 0); fewer say nothing about it. Points are 1...255, so a secret is shared
/// among at most 255 holders.
public enum ShamirSharing {
    /// One share: the point x and the secret's bytes evaluated there.
    public struct Share: Sendable, Equatable, Codable {
        public var x: UInt8
        public var y: [UInt8]

        /// The share at `x`.
        public init(x: UInt8, y: [UInt8]) {
            self.x = x
            self.y = y
        }

        enum CodingKeys: String, CodingKey { case x, y }

        /// JSON: the point as a number, the bytes as base64.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            x = try container.decode(UInt8.self, forKey: .x)
            let text = try container.decode(String.self, forKey: .y)
            guard text.utf8.count <= 1024, let bytes = Data(base64Encoded: text) else {
                throw DecodingError.dataCorruptedError(forKey: .y, in: container, debugDescription: "not base64 of at most 768 bytes")
            }
            y = Array(bytes)
        }

        /// Encodes `{x, y}` with `y` in base64.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(x, forKey: .x)
            try container.encode(Data(y).base64EncodedString(), forKey: .y)
        }
    }

    /// One share of `secret` for each point of `points` (distinct, non-zero).
    public static func split(
        _ secret: [UInt8], threshold: Int, points: [UInt8], using random: inout some RandomNumberGenerator
    ) throws(ProtocolError) -> [Share] {
        guard threshold >= 1, threshold <= points.count else {
            throw .invalidConfiguration("a threshold of \(threshold) needs 1 to \(points.count) shares")
        }
        guard !points.contains(0), Set(points).count == points.count else {
            throw .invalidConfiguration("share points must be distinct and non-zero")
        }
        // coefficients[i][j]: coefficient of x^(j+1) for byte i.
        let coefficients = secret.map { _ in (1..<threshold).map { _ in UInt8.random(in: 0...255, using: &random) } }
        return points.map { x in
            Share(
                x: x,
                y: zip(secret, coefficients).map { constant, higher in
                    // Horner's rule from the highest coefficient down to the constant term.
                    (higher.reversed() + [constant]).reduce(UInt8(0)) { GF256.add(GF256.multiply($0, x), $1) }
                })
        }
    }

    /// The secret from `shares` (at least the threshold's number, distinct points, equal lengths).
    public static func combine(_ shares: [Share]) throws(ProtocolError) -> [UInt8] {
        guard let length = shares.first?.y.count else { throw .invalidConfiguration("no shares to combine") }
        guard shares.allSatisfy({ $0.y.count == length && $0.x != 0 }), Set(shares.map(\.x)).count == shares.count else {
            throw .invalidConfiguration("shares must have distinct non-zero points and equal lengths")
        }
        // Lagrange basis at 0: l_j = prod_{m != j} x_m / (x_m - x_j); in GF(2^8) minus is plus.
        let basis = shares.indices.map { j in
            shares.indices.reduce(UInt8(1)) { product, m in
                m == j ? product : GF256.multiply(product, GF256.divide(shares[m].x, GF256.add(shares[m].x, shares[j].x)))
            }
        }
        return (0..<length).map { byte in
            shares.indices.reduce(UInt8(0)) { sum, j in GF256.add(sum, GF256.multiply(basis[j], shares[j].y[byte])) }
        }
    }
}

/// Arithmetic in GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1, by log and
/// exponent tables of the generator 3.
enum GF256 {
    static let (exponents, logarithms): ([UInt8], [UInt8]) = {
        var exponents = [UInt8](repeating: 0, count: 510)
        var logarithms = [UInt8](repeating: 0, count: 256)
        var value: UInt8 = 1
        for power in 0..<255 {
            exponents[power] = value
            logarithms[Int(value)] = UInt8(power)
            // value *= 3: value * 2 (reduced) xor value.
            let doubled = value << 1 ^ (value & 0x80 != 0 ? 0x1b : 0)
            value = doubled ^ value
        }
        for power in 255..<510 { exponents[power] = exponents[power - 255] }
        return (exponents, logarithms)
    }()

    static func add(_ a: UInt8, _ b: UInt8) -> UInt8 { a ^ b }

    static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        guard a != 0, b != 0 else { return 0 }
        return exponents[Int(logarithms[Int(a)]) + Int(logarithms[Int(b)])]
    }

    /// a / b for b != 0.
    static func divide(_ a: UInt8, _ b: UInt8) -> UInt8 {
        guard a != 0 else { return 0 }
        return exponents[Int(logarithms[Int(a)]) + 255 - Int(logarithms[Int(b)])]
    }
}
