import FoundationEssentials

/// Stage 1, agent → aggregator (`round/<r>/secagg/keys/<agent>`): the agent's fresh X25519
/// public keys for this round (one to encrypt shares to it, one for pairwise masks) and a
/// commitment to its self-mask seed, signed with its Ed25519 identity key.
public struct SecAggKeys: Codable, Sendable, Equatable, SchemaVersioned {
    public static let schema = "fedmq.secagg.keys/1"
    public var schema: String = Self.schema
    public var job: String
    public var round: Int
    public var agent: String
    /// base64 X25519 public key for encrypting shares to this agent.
    public var cipherKey: String
    /// base64 X25519 public key for pairwise masks.
    public var maskKey: String
    /// hex sha256 of the self-mask seed, so a reconstructed seed can be checked.
    public var selfMaskCommitment: String
    /// base64 Ed25519 public identity key that made `signature`.
    public var identityKey: String
    /// base64 Ed25519 signature of `SignedStatement.secAggKeys`.
    public var signature: String

    enum CodingKeys: String, CodingKey {
        case schema, job, round, agent, signature
        case cipherKey = "cipher_key"
        case maskKey = "mask_key"
        case selfMaskCommitment = "self_mask_commitment"
        case identityKey = "identity_key"
    }

    /// Refuses an invalid job or agent id, a round below 1, and keys, commitment or signature
    /// not in their one canonical text form (what a roster packs must unpack to the same text).
    public func validate() throws(ProtocolError) {
        try Identifier.validate(job, kind: "job")
        try Identifier.validate(agent, kind: "agent")
        guard round >= 1 else { throw .invalidMessage(schema: Self.schema, reason: "round must be >= 1") }
        for (field, text, count) in [
            ("cipher_key", cipherKey, 32), ("mask_key", maskKey, 32), ("identity_key", identityKey, 32), ("signature", signature, 64),
        ] where CanonicalBytes.base64(text)?.count != count {
            throw .invalidMessage(schema: Self.schema, reason: "\(field) is not the base64 of \(count) bytes")
        }
        guard CanonicalBytes.hex(selfMaskCommitment)?.count == 32 else {
            throw .invalidMessage(schema: Self.schema, reason: "self_mask_commitment is not 64 lowercase hex digits")
        }
    }

    /// What a roster names this agent's keys by.
    public var fingerprint: String { ModelCodec.sha256(ProtocolJSON.encode(self)) }

    var statement: [UInt8] {
        SignedStatement.secAggKeys(job: job, round: round, agent: agent, cipherKey: cipherKey, maskKey: maskKey, commitment: selfMaskCommitment)
    }
}

/// One encrypted share, addressed (`peer` is the receiver when sent, the sender when delivered).
public struct SecAggSealedShare: Codable, Sendable, Equatable {
    public var peer: String
    /// base64 of ChaCha20-Poly1305 nonce, ciphertext and tag.
    public var sealed: String
}

/// Stage 2, agent → aggregator (`round/<r>/secagg/shares/<agent>`): its shares for each
/// neighbour, each encrypted to that neighbour.
public struct SecAggShares: Codable, Sendable, Equatable, SchemaVersioned {
    public static let schema = "fedmq.secagg.shares/1"
    public var schema: String = Self.schema
    public var job: String
    public var round: Int
    public var agent: String
    public var shares: [SecAggSealedShare]

    /// Refuses an invalid agent id and more than 254 shares.
    public func validate() throws(ProtocolError) {
        try Identifier.validate(agent, kind: "agent")
        guard shares.count <= 254 else { throw .invalidMessage(schema: Self.schema, reason: "more than 254 shares") }
    }
}

/// Stage 2 → 3, aggregator → one agent's inbox: the shares its neighbours sent it. Only
/// agents that sent shares appear; masks are agreed with exactly these neighbours.
public struct SecAggShareDelivery: Codable, Sendable, Equatable, SchemaVersioned {
    public static let schema = "fedmq.secagg.delivery/1"
    public var schema: String = Self.schema
    public var job: String
    public var round: Int
    public var agent: String
    public var shares: [SecAggSealedShare]

    /// Refuses more than 254 shares.
    public func validate() throws(ProtocolError) {
        guard shares.count <= 254 else { throw .invalidMessage(schema: Self.schema, reason: "more than 254 shares") }
    }
}

/// What one encrypted share holds: the sender's shares of its self-mask seed and of its
/// mask private key, for the receiver. Bound to job, round, sender and receiver by the
/// cipher's associated data as well.
struct SecAggSharePlaintext: Codable, Equatable {
    var job: String
    var round: Int
    var from: String
    var to: String
    var selfMask: ShamirSharing.Share
    var maskKey: ShamirSharing.Share

    enum CodingKeys: String, CodingKey {
        case job, round, from, to
        case selfMask = "self_mask"
        case maskKey = "mask_key"
    }

    init(job: String, round: Int, from: String, to: String, selfMask: ShamirSharing.Share, maskKey: ShamirSharing.Share) {
        (self.job, self.round, self.from, self.to, self.selfMask, self.maskKey) = (job, round, from, to, selfMask, maskKey)
    }

    /// What is sealed: the point, then the two shares' bytes (65 bytes; the JSON form took about
    /// 150). Job, round, sender and receiver are bound by the cipher's associated data.
    var sealedForm: [UInt8] { [selfMask.x] + selfMask.y + maskKey.y }

    /// An opened share: the sealed form, or the JSON form earlier versions sealed (whose
    /// names must match the context it was opened in). Nil for anything else.
    init?(opened bytes: [UInt8], job: String, round: Int, from: String, to: String) {
        let width = SecAggCrypto.secretBytes
        // The JSON form is never this short: its two base64 shares alone take 88 bytes.
        if bytes.count == 1 + 2 * width {
            let x = bytes[0]
            self.init(
                job: job, round: round, from: from, to: to, selfMask: .init(x: x, y: Array(bytes[1...width])),
                maskKey: .init(x: x, y: Array(bytes[(1 + width)...])))
        } else if let legacy = try? JSONDecoder().decode(Self.self, from: Data(bytes)), legacy.job == job, legacy.round == round,
            legacy.from == from, legacy.to == to
        {
            self = legacy
        } else {
            return nil
        }
    }
}

/// Stage 4, aggregator → survivors (`round/<r>/secagg/unmask`, retained, signed): who sent a
/// masked update and who shared but then dropped out.
public struct SecAggUnmask: Codable, Sendable, Equatable, SchemaVersioned {
    public static let schema = "fedmq.secagg.unmask/1"
    public var schema: String = Self.schema
    public var job: String
    public var round: Int
    public var survivors: [String]
    public var dropped: [String]

    /// Refuses an agent listed both as a survivor and as dropped.
    public func validate() throws(ProtocolError) {
        guard Set(survivors).isDisjoint(with: dropped) else {
            throw .invalidMessage(schema: Self.schema, reason: "an agent is both a survivor and dropped")
        }
    }
}

/// A revealed share: of whose secret.
public struct SecAggRevealedShare: Codable, Sendable, Equatable {
    public var owner: String
    public var share: ShamirSharing.Share
}

/// Stage 4, survivor → aggregator (`round/<r>/secagg/reveal/<agent>`): the self-mask shares
/// of surviving neighbours and the mask-key shares of dropped ones, never both for one agent.
public struct SecAggReveal: Codable, Sendable, Equatable, SchemaVersioned {
    public static let schema = "fedmq.secagg.reveal/1"
    public var schema: String = Self.schema
    public var job: String
    public var round: Int
    public var agent: String
    public var selfMasks: [SecAggRevealedShare]
    public var maskKeys: [SecAggRevealedShare]

    enum CodingKeys: String, CodingKey {
        case schema, job, round, agent
        case selfMasks = "self_masks"
        case maskKeys = "mask_keys"
    }

    /// Refuses revealing both secrets of one agent (which would unmask its input).
    public func validate() throws(ProtocolError) {
        guard Set(selfMasks.map(\.owner)).isDisjoint(with: maskKeys.map(\.owner)) else {
            throw .invalidMessage(schema: Self.schema, reason: "both shares revealed for one agent")
        }
    }
}
