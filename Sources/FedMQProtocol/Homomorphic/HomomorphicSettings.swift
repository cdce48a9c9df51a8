import FedMQHomomorphic

/// A job's homomorphic mode (`policy.homomorphic`, repeated in every round announcement):
/// agents encrypt their clipped, quantized updates under the key holder's Paillier key, the
/// aggregator multiplies the ciphertexts without any key, and the key holder decrypts only the
/// round's aggregate. Needs an enrolled fleet, the key holder's key in the enrolment, and the
/// plain mean.
public struct HomomorphicSettings: Codable, Sendable, Equatable {
    /// The key holder's modulus size: 2048 (default) or 3072 bits.
    public var keyBits: Int
    /// Each entry of a delta is clipped to [-clip, clip] before it is quantized.
    public var clip: Double
    /// The key sizes FedMQ uses (bits).
    public static let keySizes = [2048, 3072]
    /// Quantization steps per unit: an entry becomes round((v + clip) · scale).
    public var scale: Double
    /// How long the aggregator waits for the key holder's sum before the round fails.
    public var decryptSeconds: Double

    /// Keys of `keyBits` bits, entries clipped to ±`clip` and quantized with `scale` steps per unit.
    public init(keyBits: Int = 2048, clip: Double, scale: Double, decryptSeconds: Double = 60) {
        self.keyBits = keyBits
        self.clip = clip
        self.scale = scale
        self.decryptSeconds = decryptSeconds
    }

    enum CodingKeys: String, CodingKey {
        case clip, scale
        case keyBits = "key_bits"
        case decryptSeconds = "decrypt_seconds"
    }

    /// Fills the defaults of absent keys (`key_bits`, `decrypt_seconds`).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        keyBits = try container.decodeIfPresent(Int.self, forKey: .keyBits) ?? 2048
        clip = try container.decode(Double.self, forKey: .clip)
        scale = try container.decode(Double.self, forKey: .scale)
        decryptSeconds = try container.decodeIfPresent(Double.self, forKey: .decryptSeconds) ?? 60
    }

    /// The packing of a round that sums at most `cohort` updates (its `target_updates`).
    public func packing(cohort: Int) throws(ProtocolError) -> PaillierPacking {
        do {
            return try PaillierPacking(clip: clip, scale: scale, cohort: cohort, keyBits: keyBits)
        } catch {
            throw .invalidConfiguration("homomorphic clip, scale and target_updates: \(error)")
        }
    }

    /// Refuses a key size, quantization or deadline that cannot work for `cohort` updates.
    public func validate(cohort: Int) throws(ProtocolError) {
        guard Self.keySizes.contains(keyBits) else { throw .invalidConfiguration("homomorphic key_bits must be 2048 or 3072, not \(keyBits)") }
        guard decryptSeconds > 0, decryptSeconds.isFinite else { throw .invalidConfiguration("homomorphic decrypt_seconds must be positive") }
        _ = try packing(cohort: cohort)
    }
}
