import FedMQCore

/// `global/round` (retained): the round that is open, what to train, and until when.
public struct RoundAnnouncement: Codable, Sendable, Equatable, SchemaVersioned {
    public static let schema = "fedmq.round/1"
    public var schema: String = Self.schema
    public var job: String
    public var round: Int
    /// Seconds since 1970-01-01 UTC.
    public var openedAt: Double
    /// Updates arriving after this (seconds since 1970) are not counted.
    public var deadline: Double
    /// The round closes as soon as this many updates are accepted.
    public var targetUpdates: Int
    /// At the deadline, the round closes if at least this many were accepted (else it is extended).
    public var minUpdates: Int
    /// How many times the deadline was extended for lack of updates.
    public var extensions: Int
    /// Counts the changes to this round's announcement (a deadline extension, a new selection):
    /// agents refuse an announcement older than one they hold, so a replayed signed copy of an
    /// earlier round, or of this round before a change, cannot turn them back. Absent: 0.
    public var revision: Int?
    /// sha256 (hex) of the exact bytes of the retained `global/model` to train from.
    public var baseModelSHA256: String
    public var training: TrainingConfig
    /// Largest update payload the aggregator accepts.
    public var maxUpdateBytes: Int
    /// Updates with a larger L2 norm are rejected; agents clip to it.
    public var normBound: Double?
    /// Encoding agents should use for updates.
    public var encoding: TensorEncoding
    /// Client-level differential privacy agents apply before publishing.
    public var privacy: ClientPrivacy?
    /// The agents whose updates the aggregator holds for this round, given when it republishes
    /// the round after a restart or a deadline extension. An agent that served the round and
    /// is not listed publishes its update again: an update acknowledged by the MQTT client but
    /// lost before the aggregator spooled it is recovered this way.
    public var received: [String]?
    /// Agents with held-out data evaluate the base model when its round is a multiple of this
    /// and publish the result on `round/<r>/eval/<agent>`.
    public var evaluateEvery: Int?
    /// With client selection, the agents picked for this round (sorted); others stay idle and
    /// their updates are refused as `not_selected`.
    public var selected: [String]?
    /// Secure aggregation: agents take part in its stages and send a masked update on
    /// `round/<r>/secagg/masked/<agent>` instead of an update.
    public var secureAggregation: SecureAggregationSettings?
    /// Homomorphic aggregation: agents encrypt their update under the key holder's key (on
    /// `he/key`) and publish it on the usual update topic.
    public var homomorphic: HomomorphicSettings?
    /// How many rounds the job runs (so every tool can show "round 3/30"); nil: until stopped.
    public var rounds: Int?
    /// Present in an asynchronous job: `round` is then the current model's version, agents
    /// train on any version at most `max_staleness` old, whenever their pacing lets them, and
    /// `deadline` is when a buffer holding `min_updates` is applied without waiting for more.
    public var asynchronous: AsynchronousSettings?
    /// Present in an analytics job: agents answer these queries from their records
    /// (`LocalStatistics`) instead of training, and send the vector as their update.
    public var analytics: AnalyticsSettings?
    /// Present when a central aggregator folds site partials: the sites it waits for (then
    /// `received`, `target_updates` and `min_updates` name and count sites, not agents) and how
    /// each site weights its agents' updates in its partial.
    public var sites: [String]?
    public var weighting: FedAvg.Weighting?
    /// The sites are ingest shards sharing one broker's updates: an agent never sends its
    /// update twice (a second copy could reach another shard and count twice).
    public var ingestShards: Bool?
    /// The aggregators of this job read a top-k update's positions as a bitmap too
    /// (`<name>.bitmap`); agents of earlier versions ignore it and send indices.
    public var sparseBitmaps: Bool?

    enum CodingKeys: String, CodingKey {
        case schema, job, round, rounds, deadline, extensions, revision, training, encoding, privacy, received, selected, asynchronous, homomorphic
        case analytics, sites, weighting
        case ingestShards = "ingest_shards"
        case sparseBitmaps = "sparse_bitmaps"
        case evaluateEvery = "evaluate_every"
        case openedAt = "opened_at"
        case targetUpdates = "target_updates"
        case minUpdates = "min_updates"
        case baseModelSHA256 = "base_model_sha256"
        case maxUpdateBytes = "max_update_bytes"
        case normBound = "norm_bound"
        case secureAggregation = "secure_aggregation"
    }

    /// An announcement of round `round`, with its deadline and the training agents run.
    public init(
        job: String, round: Int, openedAt: Double, deadline: Double, targetUpdates: Int, minUpdates: Int, extensions: Int,
        baseModelSHA256: String, training: TrainingConfig, maxUpdateBytes: Int, normBound: Double?, encoding: TensorEncoding,
        privacy: ClientPrivacy? = nil, evaluateEvery: Int? = nil, secureAggregation: SecureAggregationSettings? = nil
    ) {
        self.job = job
        self.round = round
        self.openedAt = openedAt
        self.deadline = deadline
        self.targetUpdates = targetUpdates
        self.minUpdates = minUpdates
        self.extensions = extensions
        self.baseModelSHA256 = baseModelSHA256
        self.training = training
        self.maxUpdateBytes = maxUpdateBytes
        self.normBound = normBound
        self.encoding = encoding
        self.privacy = privacy
        self.evaluateEvery = evaluateEvery
        self.secureAggregation = secureAggregation
    }

    /// Bounds of an announcement's numbers: rounds up to a billion, times up to the year 5138,
    /// and a round (with its extensions' deadline) at most a year long.
    public static let maxRound = 1_000_000_000
    public static let maxTime = 1e11
    public static let maxRoundSeconds = 366.0 * 24 * 3600

    /// The plain announcement of a FedAvg round, read without `JSONDecoder` (`RoundAnnouncementScanner`).
    public static func scanned(from payload: [UInt8]) -> RoundAnnouncement? {
        RoundAnnouncementScanner.scan(payload)
    }

    /// Whether this announcement is older than `other`: an earlier round, or the same round before a change.
    public func precedes(_ other: RoundAnnouncement) -> Bool {
        (round, revision ?? 0) < (other.round, other.revision ?? 0)
    }

    /// Refuses what an agent must not act on (bounds in `docs/protocol.md`).
    public func validate() throws(ProtocolError) {
        func invalid(_ reason: String) -> ProtocolError { .invalidMessage(schema: Self.schema, reason: reason) }
        guard Identifier.isValid(job) else { throw invalid("job '\(job.prefix(80))' is not a valid id") }
        // Every number an agent computes with is bounded, so none of its arithmetic can trap.
        guard (1...Self.maxRound).contains(round) else { throw invalid("round must be within 1...\(Self.maxRound)") }
        if let rounds, !(round...Self.maxRound).contains(rounds) { throw invalid("rounds must be within round...\(Self.maxRound)") }
        guard openedAt.isFinite, deadline.isFinite, (0...Self.maxTime).contains(openedAt), deadline >= openedAt,
            deadline - openedAt <= Self.maxRoundSeconds
        else { throw invalid("deadline must follow opened_at by at most \(Int(Self.maxRoundSeconds)) s, both within 0 and \(Int(Self.maxTime))") }
        guard (0...Self.maxRound).contains(extensions), (0...Self.maxRound).contains(revision ?? 0) else {
            throw invalid("extensions and revision must be within 0...\(Self.maxRound)")
        }
        guard minUpdates >= 1, targetUpdates >= minUpdates, targetUpdates <= 1_000_000_000 else {
            throw invalid("need 1 <= min_updates <= target_updates <= 10^9")
        }
        guard baseModelSHA256.count == 64, baseModelSHA256.allSatisfy(\.isHexDigit) else {
            throw invalid("base_model_sha256 is not 64 hex digits")
        }
        guard maxUpdateBytes > 0 else { throw invalid("max_update_bytes must be positive") }
        if let evaluateEvery, evaluateEvery < 1 { throw invalid("evaluate_every must be at least 1") }
        if let selected, selected.count > 1_000_000 || !selected.allSatisfy(Identifier.isValid) {
            throw invalid("selected must list valid agent ids")
        }
        if let received, received.count > 1_000_000 || !received.allSatisfy(Identifier.isValid) {
            throw invalid("received must list valid agent ids")
        }
        if let normBound, !(normBound > 0 && normBound.isFinite) { throw invalid("norm_bound must be positive") }
        if let sites, sites.isEmpty || sites.count > 100_000 || !sites.allSatisfy(Identifier.isValid) {
            throw invalid("sites must list valid site ids")
        }
        if asynchronous != nil && (secureAggregation != nil || homomorphic != nil) {
            throw invalid("an asynchronous job has no secure or homomorphic aggregation")
        }
        if secureAggregation != nil && homomorphic != nil { throw invalid("a round is secure or homomorphic, not both") }
        if let analytics {
            if asynchronous != nil || homomorphic != nil { throw invalid("an analytics round is neither asynchronous nor homomorphic") }
            // Less noise than the queries' sensitivity needs would break the promise: the agent checks it.
            do {
                try analytics.validate()
            } catch {
                throw invalid("\(error)")
            }
            if let privacy, privacy.clipNorm < analytics.sensitivity * (1 - 1e-9) {
                throw invalid("privacy clip_norm \(privacy.clipNorm) is below the analytics queries' sensitivity \(analytics.sensitivity)")
            }
        }
        do {
            try secureAggregation?.validate(cohort: 1)
            try homomorphic?.validate(cohort: targetUpdates)
            try asynchronous?.validate()
            try training.validate()
            try privacy?.validate()
        } catch {
            throw invalid("\(error)")
        }
    }
}
