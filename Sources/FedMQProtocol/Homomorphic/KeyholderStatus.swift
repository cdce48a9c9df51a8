/// `he/keyholder/status` (retained, last will `offline`): whether a homomorphic job's key holder
/// is up, under which key, and the last round it decrypted. `fedmq status` shows it.
public struct KeyholderStatus: Codable, Sendable, Equatable, SchemaVersioned {
    public static let schema = "fedmq.keyholder/1"

    /// Whether the key holder answers decryption requests.
    public enum State: String, Codable, Sendable {
        case online, offline
    }

    public var schema: String = Self.schema
    public var job: String
    public var state: State
    /// The fingerprint (sha256 of n) of the key it holds.
    public var keySHA256: String?
    /// The fewest agents an aggregate must combine for it to decrypt.
    public var minUpdates: Int?
    /// The last round whose aggregate it decrypted.
    public var lastRound: Int?
    public var time: Double?

    /// A status for `job`.
    public init(job: String, state: State, keySHA256: String? = nil, minUpdates: Int? = nil, lastRound: Int? = nil, time: Double? = nil) {
        self.job = job
        self.state = state
        self.keySHA256 = keySHA256
        self.minUpdates = minUpdates
        self.lastRound = lastRound
        self.time = time
    }

    enum CodingKeys: String, CodingKey {
        case schema, job, state, time
        case keySHA256 = "key_sha256"
        case minUpdates = "min_updates"
        case lastRound = "last_round"
    }

    /// Refuses an invalid job id.
    public func validate() throws(ProtocolError) {
        guard Identifier.isValid(job) else { throw .invalidMessage(schema: Self.schema, reason: "job id is invalid") }
    }
}
