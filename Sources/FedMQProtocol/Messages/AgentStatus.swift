import FedMQCore

/// `status/<agent>` (retained; the last will says `offline`).
public struct AgentStatus: Codable, Sendable, Equatable, SchemaVersioned {
    public static let schema = "fedmq.status/1"

    /// What the agent is doing.
    public enum State: String, Codable, Sendable {
        /// Connected and waiting for a round (or for the model).
        case idle
        case training
        /// Refuses to train: the configured privacy budget would be exceeded.
        case budgetExhausted = "budget_exhausted"
        case offline
    }

    public var schema: String = Self.schema
    public var agent: String
    public var state: State
    /// The last round this agent published an update for (0: none).
    public var lastRound: Int
    /// Seconds since 1970, when this status was published (absent in the last will).
    public var time: Double?
    /// Privacy spent so far on this job, by the agent's ledger: epsilon at `delta`.
    public var epsilonSpent: Double?
    public var delta: Double?
    /// The sha256 of the model the open round names, when this agent does not hold it (it
    /// refused what it received): the aggregator publishes the model again.
    public var waitingForModel: String?
    /// Why the agent gave up the last round it could not serve (bad local data, a refused
    /// privacy setting, ...), until it serves one; at most `maxErrorLength` characters.
    public var lastError: String? {
        get { lastErrorText }
        set { lastErrorText = newValue.map { String($0.prefix(Self.maxErrorLength)) } }
    }
    private var lastErrorText: String?
    /// The longest `last_error` kept.
    public static let maxErrorLength = 500

    enum CodingKeys: String, CodingKey {
        case schema, agent, state, time, delta
        case lastRound = "last_round"
        case epsilonSpent = "epsilon_spent"
        case waitingForModel = "waiting_for_model"
        case lastErrorText = "last_error"
    }

    /// A status for `agent`.
    public init(agent: String, state: State, lastRound: Int, time: Double?, epsilonSpent: Double? = nil, delta: Double? = nil) {
        self.agent = agent
        self.state = state
        self.lastRound = lastRound
        self.time = time
        self.epsilonSpent = epsilonSpent.flatMap { $0.isFinite ? $0 : nil }
        self.delta = delta
    }

    /// A status as agents write it, read without `JSONDecoder` (`AgentStatusScanner`).
    public static func scanned(from payload: [UInt8]) -> AgentStatus? {
        AgentStatusScanner.scan(payload)
    }

    /// Refuses an invalid agent id, a negative round and an overlong `last_error`.
    public func validate() throws(ProtocolError) {
        guard Identifier.isValid(agent), lastRound >= 0 else {
            throw .invalidMessage(schema: Self.schema, reason: "agent id or last_round is invalid")
        }
        guard (lastErrorText?.count ?? 0) <= Self.maxErrorLength else {
            throw .invalidMessage(schema: Self.schema, reason: "last_error is longer than \(Self.maxErrorLength) characters")
        }
    }
}

/// `aggregator/status` (retained; the last will says `offline`).
public struct AggregatorStatus: Codable, Sendable, Equatable, SchemaVersioned {
    public static let schema = "fedmq.aggregator/1"

    /// Whether the aggregator serves the job.
    public enum State: String, Codable, Sendable {
        case online, finished, offline
    }

    public var schema: String = Self.schema
    public var job: String
    public var state: State
    public var round: Int?
    public var time: Double?

    /// A status for `job`.
    public init(job: String, state: State, round: Int?, time: Double?) {
        self.job = job
        self.state = state
        self.round = round
        self.time = time
    }

    /// Refuses an invalid job id or negative round.
    public func validate() throws(ProtocolError) {
        guard Identifier.isValid(job) else { throw .invalidMessage(schema: Self.schema, reason: "job id is invalid") }
    }
}
