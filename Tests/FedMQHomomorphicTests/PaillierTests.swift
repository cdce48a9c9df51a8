import FedMQCore
import FedMQHomomorphic
import Testing

@Suite("Paillier encryption over GMP")
struct PaillierTests {
    /// Mersenne primes 2^127 - 1 and 2^89 - 1: a small key whose numbers can be checked by hand.
    static let small = PaillierPrivateKey(
        p: (BigInteger(1) << 127) - BigInteger(1), q: (BigInteger(1) << 89) - BigInteger(1))!

    @Test("big integers: arithmetic, bytes, inverses and powers against known values")
    func bigIntegers() throws {
        let a = try #require(BigInteger(decimal: "123456789012345678901234567890"))
        let b = try #require(BigInteger(decimal: "987654321098765432109876543210"))
        #expect((a * b).decimal == "121932631137021795226185032733622923332237463801111263526900")
        #expect((b - a).decimal == "864197532086419753208641975320")
        #expect(BigInteger(bigEndian: a.bigEndianBytes()) == a)
        #expect(BigInteger(bigEndian: [0x01, 0x00]) == BigInteger(256))
        #expect(BigInteger(3).inverse(modulo: BigInteger(7)) == BigInteger(5))
        #expect(BigInteger(6).inverse(modulo: BigInteger(9)) == nil)
        #expect(BigInteger(4).power(BigInteger(13), modulo: BigInteger(497), secret: true) == BigInteger(445))
        #expect(((BigInteger(1) << 127) - BigInteger(1)).isProbablePrime())
        #expect(!((BigInteger(1) << 128) - BigInteger(1)).isProbablePrime())
        #expect(BigInteger(decimal: "12x") == nil)
        #expect(BigInteger(255).bigEndianBytes(minimumCount: 3) == [0, 0, 255])
    }

    @Test("decryption inverts encryption; the product of ciphertexts decrypts to the sum of plaintexts")
    func homomorphicSum() throws {
        var random = SplitMix64(seed: 1)
        let key = Self.small
        let n = key.publicKey.n
        var sum = BigInteger(0)
        var total: BigInteger?
        for _ in 0..<20 {
            let m = BigInteger.random(below: n >> 8, using: &random)
            let c = key.publicKey.encrypt(m, using: &random)
            #expect(try key.decrypt(c) == m)
            sum = sum + m
            total = total.map { key.publicKey.add($0, c) } ?? c
        }
        #expect(try key.decrypt(try #require(total)) == sum.modulo(n))
        // Two encryptions of the same message differ (probabilistic encryption).
        #expect(key.publicKey.encrypt(BigInteger(5), using: &random) != key.publicKey.encrypt(BigInteger(5), using: &random))
    }

    @Test("a known answer: E(42) with r = 3 under n = (2^127 - 1)(2^89 - 1) is (1 + 42n) · 3^n mod n²")
    func knownAnswer() throws {
        let key = Self.small.publicKey
        let c = key.encrypt(BigInteger(42), randomizer: BigInteger(3).power(key.n, modulo: key.nSquared))
        let expected = (BigInteger(1) + BigInteger(42) * key.n).multiplied(by: BigInteger(3).power(key.n, modulo: key.nSquared), modulo: key.nSquared)
        #expect(c == expected)
        #expect(try Self.small.decrypt(c) == BigInteger(42))
    }

    @Test("fast encryption with the key holder's base (DJN) decrypts, adds like any ciphertext, and refuses a base that cannot be one")
    func fastEncryption() throws {
        var random = SplitMix64(seed: 11)
        let key = Self.small
        let encryptor = try PaillierEncryptor(key: key.publicKey, base: key.fastEncryptionBase(using: &random))
        let a = encryptor.encrypt(BigInteger(1000), using: &random)
        let b = key.publicKey.encrypt(BigInteger(234), using: &random)
        #expect(try key.decrypt(a) == BigInteger(1000))
        #expect(try key.decrypt(key.publicKey.add(a, b)) == BigInteger(1234))
        #expect(encryptor.encrypt(BigInteger(7), using: &random) != encryptor.encrypt(BigInteger(7), using: &random))
        #expect(throws: HomomorphicError.self) { try PaillierEncryptor(key: key.publicKey, base: BigInteger(1)) }
        #expect(throws: HomomorphicError.self) { try PaillierEncryptor(key: key.publicKey, base: key.publicKey.n) }
    }

    @Test("keys: generated keys have exactly the asked bits and work; bad sizes, equal primes and non-ciphertexts are refused")
    func keys() throws {
        var random = SplitMix64(seed: 7)
        let key = try PaillierPrivateKey.generate(bits: 1024, using: &random)
        #expect(key.publicKey.bits == 1024)
        let c = key.publicKey.encrypt(BigInteger(123_456), using: &random)
        #expect(try key.decrypt(c) == BigInteger(123_456))
        #expect(throws: HomomorphicError.self) { try PaillierPrivateKey.generate(bits: 512, using: &random) }
        let prime = (BigInteger(1) << 89) - BigInteger(1)
        #expect(PaillierPrivateKey(p: prime, q: prime) == nil)
        #expect(throws: HomomorphicError.self) { try key.decrypt(BigInteger(0)) }
        #expect(throws: HomomorphicError.self) { try key.decrypt(key.publicKey.nSquared) }
        #expect(throws: HomomorphicError.self) { try key.decrypt(key.publicKey.n) }
    }

    @Test("packing: the decrypted product of packed updates unpacks to the sum of the updates, within the quantization step")
    func packedSums() throws {
        var random = SplitMix64(seed: 3)
        let key = Self.small
        let packing = try PaillierPacking(clip: 1, scale: 4096, cohort: 5, keyBits: key.publicKey.bits)
        #expect(packing.slotBits == 16)  // 5 x 2 x 4096 = 40960 < 2^16
        #expect(packing.slotsPerPlaintext == 215 / 16)
        let updates = (0..<5).map { _ in (0..<30).map { _ in Float(random.nextGaussian() * 0.5) } }
        var product: [BigInteger]?
        for update in updates {
            let ciphertexts = packing.pack(update).map { key.publicKey.encrypt($0, using: &random) }
            #expect(ciphertexts.count == packing.plaintexts(for: 30))
            product = product.map { zip($0, ciphertexts).map { key.publicKey.add($0, $1) } } ?? ciphertexts
        }
        let sums = try packing.unpack(try #require(product).map { try key.decrypt($0) }, count: 30, updates: 5)
        for index in 0..<30 {
            let expected = updates.reduce(0.0) { $0 + min(1, max(-1, Double($1[index]))) }
            #expect(abs(sums[index] - expected) <= 5 * 0.5 / 4096 + 1e-9, "value \(index)")
        }
        #expect(throws: HomomorphicError.self) { try packing.unpack(try #require(product).map { try key.decrypt($0) }, count: 30, updates: 6) }
        #expect(throws: HomomorphicError.self) { try PaillierPacking(clip: 1, scale: 0x1p40, cohort: 2, keyBits: 2048) }
    }
}
