import Crypto
import FedMQCore
import FoundationEssentials

/// An Ed25519 identity key: each agent's (made at enrolment) and the aggregator's. Files hold
/// the base64 of the 32-byte private key; enrolment files hold the public halves.
public struct SigningKey: Sendable {
    /// The raw 32 bytes, checked to be a valid key when this value was made: swift-crypto's
    /// key types are not Sendable, so the key is rebuilt from them where it is used.
    private let raw: [UInt8]
    private var key: Curve25519.Signing.PrivateKey? { try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) }

    /// A fresh random key.
    public init() {
        raw = Array(Curve25519.Signing.PrivateKey().rawRepresentation)
    }

    /// The key in base64 (as key files hold it); refuses anything but 32 bytes.
    public init(base64: String) throws(ProtocolError) {
        guard let raw = Data(base64Encoded: base64.trimmingWhitespace()), raw.count == 32,
            (try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)) != nil
        else {
            throw .invalidKey("an Ed25519 private key is the base64 of 32 bytes")
        }
        self.raw = Array(raw)
    }

    public var base64: String { Data(raw).base64EncodedString() }

    public var publicKey: VerifyingKey { VerifyingKey(raw: key.map { Array($0.publicKey.rawRepresentation) } ?? []) }

    /// The base64 signature of `statement` (a `SignedStatement`).
    public func sign(_ statement: [UInt8]) -> String {
        // Neither step fails for a key checked at creation (BoringSSL's Ed25519 has no failure
        // path); an empty signature would simply never verify.
        ((try? key?.signature(for: statement)) ?? Data()).base64EncodedString()
    }
}

/// The public half of a `SigningKey`; JSON holds it as a base64 string.
public struct VerifyingKey: Sendable, Hashable, Codable {
    private let raw: [UInt8]

    init(raw: [UInt8]) {
        self.raw = raw
    }

    /// The key in base64 (as configs and enrolment files hold it); refuses anything but 32 bytes.
    public init(base64: String) throws(ProtocolError) {
        guard let raw = Data(base64Encoded: base64.trimmingWhitespace()), raw.count == 32,
            (try? Curve25519.Signing.PublicKey(rawRepresentation: raw)) != nil
        else {
            throw .invalidKey("an Ed25519 public key is the base64 of 32 bytes")
        }
        self.raw = Array(raw)
    }

    public var base64: String { Data(raw).base64EncodedString() }

    /// Whether `signature` (base64) is this key's signature of `statement`.
    public func verifies(_ signature: String, for statement: [UInt8]) -> Bool {
        guard signature.utf8.count <= 128, let bytes = Data(base64Encoded: signature), bytes.count == 64,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
        else { return false }
        return key.isValidSignature(bytes, for: statement)
    }

    /// Decodes the base64 form.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(base64: text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    /// Encodes the base64 form.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(base64)
    }
}
