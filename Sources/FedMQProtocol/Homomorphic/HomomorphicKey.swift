import FedMQHomomorphic
import FoundationEssentials

/// `he/key` (retained, signed by the key holder): the Paillier public key agents encrypt with
/// and the aggregator multiplies under, and the fixed base of fast encryption. JSON,
/// `fedmq.he-key/1`, numbers as big-endian base64.
public struct HomomorphicKeyMessage: Codable, Sendable, Equatable, SchemaVersioned {
    public static let schema = "fedmq.he-key/1"
    public var schema: String = Self.schema
    public var job: String
    public var bits: Int
    /// The modulus n.
    public var n: String
    /// h_s = h^n mod n², the base `PaillierEncryptor` raises to short exponents.
    public var base: String

    /// The message for `job` naming `key` and its fast-encryption `base`.
    public init(job: String, key: PaillierPublicKey, base: BigInteger) {
        self.job = job
        bits = key.bits
        n = Data(key.n.bigEndianBytes()).base64EncodedString()
        self.base = Data(base.bigEndianBytes()).base64EncodedString()
    }

    /// Refuses an invalid job id (the numbers are checked by `HomomorphicKey`).
    public func validate() throws(ProtocolError) {
        guard Identifier.isValid(job) else { throw .invalidMessage(schema: Self.schema, reason: "job is not a valid id") }
    }
}

/// A key holder's public key as agents and the aggregator use it, checked.
public struct HomomorphicKey: Sendable {
    public let key: PaillierPublicKey
    public let encryptor: PaillierEncryptor
    /// sha256 (hex) of n's bytes: updates and decryption requests name the key they are under.
    public let fingerprint: String

    /// The key a `he/key` payload holds, refusing a key that is not for `job`, of the wrong
    /// size, or malformed.
    public init(payload: [UInt8], job: String) throws(ProtocolError) {
        let message = try ProtocolJSON.decode(HomomorphicKeyMessage.self, from: payload)
        guard message.job == job else { throw .homomorphic("the key is for job '\(message.job.prefix(80))'") }
        guard HomomorphicSettings.keySizes.contains(message.bits), let nBytes = Data(base64Encoded: message.n),
            let baseBytes = Data(base64Encoded: message.base), nBytes.count <= 512, baseBytes.count <= 1024
        else { throw .homomorphic("the key must be 2048 or 3072 bits, with n and base in base64") }
        let n = BigInteger(bigEndian: Array(nBytes))
        guard n.bitWidth == message.bits, n.isOdd else { throw .homomorphic("n is not an odd \(message.bits)-bit number") }
        key = PaillierPublicKey(n: n)
        do {
            encryptor = try PaillierEncryptor(key: key, base: BigInteger(bigEndian: Array(baseBytes)))
        } catch {
            throw .homomorphic("\(error)")
        }
        fingerprint = ModelCodec.sha256(n.bigEndianBytes())
    }
}
