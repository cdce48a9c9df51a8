/// Paillier's additively homomorphic encryption (Paillier, EUROCRYPT 1999) with g = n + 1:
/// E(m) = (1 + m·n) · r^n mod n², and E(a)·E(b) = E(a + b). Anyone with the public key
/// encrypts and adds; only the private key decrypts, here by the Chinese remainder theorem.
public struct PaillierPublicKey: Sendable, Equatable {
    public let n: BigInteger
    public let nSquared: BigInteger
    /// The modulus size in bits (2048 or 3072).
    public var bits: Int { n.bitWidth }

    /// The public key of modulus `n`.
    public init(n: BigInteger) {
        self.n = n
        nSquared = n * n
    }

    /// r^n mod n² for a fresh random r: the expensive half of an encryption, which can be
    /// computed ahead of time (before the plaintext is known).
    public func randomizer(using random: inout some RandomNumberGenerator) -> BigInteger {
        // The exponent n is public; r, the secret, is the base, whose value does not steer the ladder.
        BigInteger.random(below: n, using: &random).power(n, modulo: nSquared)
    }

    /// E(m) with a randomizer from `randomizer(using:)`; m must be within 0..<n.
    public func encrypt(_ m: BigInteger, randomizer: BigInteger) -> BigInteger {
        // (1 + m·n) mod n² needs no exponentiation: g^m = 1 + m·n for g = n + 1.
        let gm = (m * n + BigInteger(1)).modulo(nSquared)
        return gm.multiplied(by: randomizer, modulo: nSquared)
    }

    /// E(m) with a fresh randomizer.
    public func encrypt(_ m: BigInteger, using random: inout some RandomNumberGenerator) -> BigInteger {
        encrypt(m, randomizer: randomizer(using: &random))
    }

    /// E(a + b) from E(a) and E(b).
    public func add(_ a: BigInteger, _ b: BigInteger) -> BigInteger {
        a.multiplied(by: b, modulo: nSquared)
    }

    /// Whether `c` can be a ciphertext of this key: within 1..<n² and invertible modulo n.
    public func isCiphertext(_ c: BigInteger) -> Bool {
        !c.isZero && c < nSquared && c.gcd(n) == BigInteger(1)
    }
}

/// The private key: n's prime factors and what CRT decryption precomputes from them.
public struct PaillierPrivateKey: Sendable {
    public let publicKey: PaillierPublicKey
    let p: BigInteger
    let q: BigInteger
    let pSquared: BigInteger
    let qSquared: BigInteger
    let pMinusOne: BigInteger
    let qMinusOne: BigInteger
    /// h_p = L_p(g^(p-1) mod p²)^-1 mod p, and h_q likewise.
    let hp: BigInteger
    let hq: BigInteger
    /// p^-1 mod q, to recombine.
    let pInverse: BigInteger

    /// The primes whose product is n: all a key file needs to hold.
    public var primes: (p: BigInteger, q: BigInteger) { (p, q) }

    /// The key of primes p and q; nil unless they give a valid Paillier key (distinct, gcd(n, φ(n)) = 1).
    public init?(p: BigInteger, q: BigInteger) {
        let one = BigInteger(1)
        guard p != q, p > one, q > one else { return nil }
        let n = p * q
        let phi = (p - one) * (q - one)
        guard n.gcd(phi) == one else { return nil }
        let g = n + one
        let pSquared = p * p
        let qSquared = q * q
        func l(_ x: BigInteger, _ prime: BigInteger) -> BigInteger { (x - one) / prime }
        guard let hp = l(g.power(p - one, modulo: pSquared), p).modulo(p).inverse(modulo: p),
            let hq = l(g.power(q - one, modulo: qSquared), q).modulo(q).inverse(modulo: q),
            let pInverse = p.inverse(modulo: q)
        else { return nil }
        publicKey = PaillierPublicKey(n: n)
        (self.p, self.q, self.pSquared, self.qSquared) = (p, q, pSquared, qSquared)
        (pMinusOne, qMinusOne) = (p - one, q - one)
        (self.hp, self.hq, self.pInverse) = (hp, hq, pInverse)
    }

    /// A fresh key of `bits` bits (2048 or 3072): two primes of half the size each, with
    /// their top two bits set so n has exactly `bits` bits, at least 2^(bits/2 - 100) apart.
    public static func generate(bits: Int, using random: inout some RandomNumberGenerator) throws(HomomorphicError) -> PaillierPrivateKey {
        guard [1024, 2048, 3072, 4096].contains(bits) else {
            throw .invalidKey("Paillier keys are 2048 or 3072 bits (1024 for tests only, 4096 allowed), not \(bits)")
        }
        let half = bits / 2
        func prime() -> BigInteger {
            while true {
                var candidate = BigInteger.random(bits: half, using: &random)
                candidate = candidate + (BigInteger(1) << (half - 2))  // the top two bits
                if candidate.bitWidth != half { continue }
                let found = candidate.nextPrime
                if found.bitWidth == half && found.isProbablePrime(reps: 10) { return found }
            }
        }
        for _ in 0..<100 {
            let (p, q) = (prime(), prime())
            let distance = p > q ? p - q : q - p
            guard distance.bitWidth > half - 100, let key = PaillierPrivateKey(p: p, q: q), key.publicKey.bits == bits else { continue }
            return key
        }
        throw .invalidKey("could not find two suitable primes of \(half) bits")
    }

    /// A fixed base for fast encryption (Damgård, Jurik and Nielsen): h_s = h^n mod n² with
    /// h = -x² mod n for a random x. `PaillierEncryptor` raises it to short random exponents.
    public func fastEncryptionBase(using random: inout some RandomNumberGenerator) -> BigInteger {
        let n = publicKey.n
        let x = BigInteger.random(below: n, using: &random)
        let h = n - (x * x).modulo(n)
        return h.power(n, modulo: publicKey.nSquared)
    }

    /// D(c) by CRT: m_p = L_p(c^(p-1) mod p²)·h_p mod p, m_q likewise, then m mod n.
    public func decrypt(_ c: BigInteger) throws(HomomorphicError) -> BigInteger {
        guard publicKey.isCiphertext(c) else { throw .invalidCiphertext("not a ciphertext of this key") }
        let one = BigInteger(1)
        let mp = ((c.modulo(pSquared).power(pMinusOne, modulo: pSquared, secret: true) - one) / p).multiplied(by: hp, modulo: p)
        let mq = ((c.modulo(qSquared).power(qMinusOne, modulo: qSquared, secret: true) - one) / q).multiplied(by: hq, modulo: q)
        // m = m_p + p · ((m_q - m_p) · p^-1 mod q)
        let difference = (mq - mp).modulo(q)
        return mp + p * difference.multiplied(by: pInverse, modulo: q)
    }
}
