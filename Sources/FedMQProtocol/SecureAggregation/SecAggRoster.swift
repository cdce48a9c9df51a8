import FoundationEssentials

/// Stage 2, aggregator → one agent's inbox: the round's secure-aggregation settings and the
/// signed keys of that agent's neighbours. Signed by the aggregator (user property).
///
/// On the wire (`fedmq.secagg.roster/3`) each neighbour's keys are one base64 string of their
/// bytes (`PackedKeys`): job, round and schema are the roster's own, and keys, commitment and
/// signature go as bytes, not as text in JSON, which took about 450 bytes a neighbour against
/// about 270 now. Rosters of version 2 (each neighbour's keys message as JSON) are read too.
public struct SecAggRoster: Codable, Sendable, Equatable, SchemaVersioned {
    public static let schema = "fedmq.secagg.roster/3"
    /// The earlier version, still read: aggregators before version 3 send it.
    static let schemaWithKeysAsJSON = "fedmq.secagg.roster/2"
    public var schema: String = Self.schema
    public var job: String
    public var round: Int
    /// The agent this roster is for.
    public var agent: String
    /// How many agents the round's neighbour graph holds: the agent derives from it (and the
    /// announced rates) the smallest neighbour count and threshold it accepts.
    public var cohort: Int
    /// Shares needed to rebuild a secret (t); the secrets are shared among the neighbours and the agent itself.
    public var threshold: Int
    public var neighbours: [SecAggKeys]
    /// sha256 of this agent's keys as the aggregator holds them: an agent that restarted
    /// within the round (new keys) sees that the roster is not for it and sits the round out,
    /// instead of sending shares its neighbours could not open.
    public var keysSHA256: String

    enum CodingKeys: String, CodingKey {
        case schema, job, round, agent, cohort, threshold, neighbours
        case keysSHA256 = "keys_sha256"
    }

    /// A roster of `neighbours`' keys (all of `job` and `round`).
    public init(job: String, round: Int, agent: String, cohort: Int, threshold: Int, neighbours: [SecAggKeys], keysSHA256: String) {
        (self.job, self.round, self.agent, self.cohort, self.threshold) = (job, round, agent, cohort, threshold)
        (self.neighbours, self.keysSHA256) = (neighbours, keysSHA256)
    }

    /// Reads version 3 (packed keys) or version 2 (keys as JSON); another schema leaves
    /// `schema` as read, for `ProtocolJSON.decode` to refuse by name.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let schema = try container.decode(String.self, forKey: .schema)
        job = try container.decode(String.self, forKey: .job)
        round = try container.decode(Int.self, forKey: .round)
        agent = try container.decode(String.self, forKey: .agent)
        cohort = try container.decode(Int.self, forKey: .cohort)
        threshold = try container.decode(Int.self, forKey: .threshold)
        keysSHA256 = try container.decode(String.self, forKey: .keysSHA256)
        switch schema {
        case Self.schema:
            var packed = try container.nestedUnkeyedContainer(forKey: .neighbours)
            var neighbours: [SecAggKeys] = []
            while !packed.isAtEnd {
                let entry = EntryKey(index: packed.currentIndex)
                guard let keys = PackedKeys.unpack(try packed.decode(String.self), job: job, round: round) else {
                    throw DecodingError.dataCorrupted(
                        .init(codingPath: packed.codingPath + [entry], debugDescription: "not a neighbour's packed keys"))
                }
                neighbours.append(keys)
            }
            self.neighbours = neighbours
        case Self.schemaWithKeysAsJSON:
            neighbours = try container.decode([SecAggKeys].self, forKey: .neighbours)
        default:
            self.schema = schema
            neighbours = []
        }
    }

    /// Writes version 3; a neighbour whose keys have no packed form (not canonical, see
    /// `SecAggKeys.validate`, which the aggregator applies to every keys message) fails the encoding.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.schema, forKey: .schema)
        try container.encode(job, forKey: .job)
        try container.encode(round, forKey: .round)
        try container.encode(agent, forKey: .agent)
        try container.encode(cohort, forKey: .cohort)
        try container.encode(threshold, forKey: .threshold)
        try container.encode(keysSHA256, forKey: .keysSHA256)
        let packed = try neighbours.map { keys in
            guard keys.job == job, keys.round == round, let text = PackedKeys.pack(keys) else {
                throw EncodingError.invalidValue(
                    keys,
                    .init(codingPath: container.codingPath + [CodingKeys.neighbours], debugDescription: "keys of \(keys.agent) cannot be packed"))
            }
            return text
        }
        try container.encode(packed, forKey: .neighbours)
    }

    /// An entry of `neighbours`, named as JSONDecoder names array elements.
    private struct EntryKey: CodingKey {
        let index: Int
        var stringValue: String { "Index \(index)" }
        var intValue: Int? { index }
        init(index: Int) { self.index = index }
        init?(stringValue: String) { nil }
        init?(intValue: Int) { self.index = intValue }
    }

    /// Refuses invalid ids and a neighbour list or threshold the cohort cannot hold.
    public func validate() throws(ProtocolError) {
        try Identifier.validate(job, kind: "job")
        try Identifier.validate(agent, kind: "agent")
        guard neighbours.count <= 254 else { throw .invalidMessage(schema: Self.schema, reason: "more than 254 neighbours") }
        guard (2...1_000_000).contains(cohort), neighbours.count < cohort else {
            throw .invalidMessage(schema: Self.schema, reason: "a cohort of \(cohort) cannot hold this agent and \(neighbours.count) neighbours")
        }
        guard threshold >= 1, threshold <= neighbours.count + 1 else {
            throw .invalidMessage(schema: Self.schema, reason: "threshold \(threshold) does not fit \(neighbours.count) neighbours")
        }
    }
}

/// One neighbour's keys in a version 3 roster: the base64 of the agent id's length (one
/// byte), the id (UTF-8), then the cipher key, mask key, self-mask commitment and identity key
/// (32 bytes each) and the signature (64 bytes).
enum PackedKeys {
    private static let fields = [32, 32, 32, 32, 64]

    /// The packed form, or nil when a field is not in its canonical text form.
    static func pack(_ keys: SecAggKeys) -> String? {
        let id = Array(keys.agent.utf8)
        guard (1...Identifier.maxLength).contains(id.count),
            let cipher = CanonicalBytes.base64(keys.cipherKey), let mask = CanonicalBytes.base64(keys.maskKey),
            let commitment = CanonicalBytes.hex(keys.selfMaskCommitment), let identity = CanonicalBytes.base64(keys.identityKey),
            let signature = CanonicalBytes.base64(keys.signature)
        else { return nil }
        let parts = [cipher, mask, commitment, identity, signature]
        guard parts.map(\.count) == fields else { return nil }
        return Data([UInt8(id.count)] + id + parts.joined()).base64EncodedString()
    }

    /// The keys `text` packs, as `job` and `round`'s keys message; nil unless it is exactly one
    /// packed entry with a valid agent id.
    static func unpack(_ text: String, job: String, round: Int) -> SecAggKeys? {
        guard let bytes = CanonicalBytes.base64(text), let length = bytes.first.map(Int.init),
            bytes.count == 1 + length + fields.reduce(0, +),
            let agent = String(validating: bytes[1..<(1 + length)], as: UTF8.self), Identifier.isValid(agent)
        else { return nil }
        var offset = 1 + length
        let parts = fields.map { width in
            defer { offset += width }
            return Array(bytes[offset..<(offset + width)])
        }
        return SecAggKeys(
            job: job, round: round, agent: agent, cipherKey: Data(parts[0]).base64EncodedString(),
            maskKey: Data(parts[1]).base64EncodedString(), selfMaskCommitment: CanonicalBytes.hex(parts[2]),
            identityKey: Data(parts[3]).base64EncodedString(), signature: Data(parts[4]).base64EncodedString())
    }
}
