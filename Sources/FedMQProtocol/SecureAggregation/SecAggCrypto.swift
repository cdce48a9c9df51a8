import Crypto
import FoundationEssentials

/// The cryptography of secure aggregation, all from swift-crypto: X25519 key agreement, HKDF
/// (SHA-256) to 256-bit keys, ChaCha20-Poly1305 for shares, and ChaCha20's keystream (the
/// ciphertext of zeros under a key used for nothing else) as the mask generator.
enum SecAggCrypto {
    /// A fresh X25519 private key's raw 32 bytes.
    static func newAgreementKey() -> [UInt8] {
        Array(Curve25519.KeyAgreement.PrivateKey().rawRepresentation)
    }

    static func publicKey(of privateRaw: [UInt8]) throws(ProtocolError) -> [UInt8] {
        guard let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: privateRaw) else {
            throw .invalidKey("an X25519 private key is 32 bytes")
        }
        return Array(key.publicKey.rawRepresentation)
    }

    /// A 256-bit key both ends derive: X25519 of one's private and the other's public key,
    /// through HKDF with the round's `context` as salt and the key's `purpose` as info.
    static func sharedKey(privateRaw: [UInt8], publicRaw: [UInt8], context: String, purpose: String) throws(ProtocolError) -> [UInt8] {
        guard let mine = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: privateRaw),
            let theirs = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: publicRaw),
            let secret = try? mine.sharedSecretFromKeyAgreement(with: theirs)
        else { throw .invalidKey("X25519 key agreement failed (a key is not 32 valid bytes)") }
        let key = secret.hkdfDerivedSymmetricKey(
            using: SHA256.self, salt: Array(context.utf8), sharedInfo: Array(purpose.utf8), outputByteCount: 32)
        return key.withUnsafeBytes { Array($0) }
    }

    /// Bytes of every shared secret: a self-mask seed and an X25519 private key.
    static let secretBytes = 32

    /// `count` pseudorandom 32-bit words from a 256-bit `seed`: ChaCha20's keystream. A seed
    /// rebuilt from shares an agent sent may have any length, so the length is checked here.
    static func maskWords(seed: [UInt8], count: Int) throws(ProtocolError) -> [UInt32] {
        guard seed.count == secretBytes else { throw .secureAggregation("a mask seed of \(seed.count) bytes; seeds are \(secretBytes)") }
        guard count > 0 else { return [] }
        // A zero nonce is safe: every seed is a fresh key used for this one stream.
        guard let nonce = try? ChaChaPoly.Nonce(data: [UInt8](repeating: 0, count: 12)),
            let box = try? ChaChaPoly.seal([UInt8](repeating: 0, count: 4 * count), using: SymmetricKey(data: seed), nonce: nonce)
        else { throw .secureAggregation("ChaCha20 refused a \(secretBytes)-byte key") }
        return box.ciphertext.withUnsafeBytes { raw in
            (0..<count).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).littleEndian }
        }
    }

    /// ChaCha20-Poly1305 with a random nonce; nonce, ciphertext and tag in one base64 string.
    static func seal(_ plaintext: [UInt8], key: [UInt8], authenticating context: String) throws(ProtocolError) -> String {
        guard let box = try? ChaChaPoly.seal(plaintext, using: SymmetricKey(data: key), authenticating: Array(context.utf8)) else {
            throw .invalidKey("could not encrypt a share")
        }
        return box.combined.base64EncodedString()
    }

    /// Opens what `seal` made; nil if the key, the context or a byte differs.
    static func open(_ sealed: String, key: [UInt8], authenticating context: String) -> [UInt8]? {
        guard sealed.utf8.count <= 4096, let combined = Data(base64Encoded: sealed), let box = try? ChaChaPoly.SealedBox(combined: combined),
            let plaintext = try? ChaChaPoly.open(box, using: SymmetricKey(data: key), authenticating: Array(context.utf8))
        else { return nil }
        return Array(plaintext)
    }

    static func randomBytes(_ count: Int, using random: inout some RandomNumberGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
    }
}
