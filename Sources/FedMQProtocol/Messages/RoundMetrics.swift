import FedMQCore

/// `metrics` (retained) and one line of the aggregator's `metrics.jsonl`: a closed round.
public struct RoundMetrics: Codable, Sendable, Equatable, SchemaVersioned {
    public static let schema = "fedmq.metrics/1"
    public var schema: String = Self.schema
    public var job: String
    public var round: Int
    /// Agents whose update was aggregated, sorted.
    public var participants: [String]
    /// Updates that counted, and the examples behind them.
    public var updates: Int
    public var examples: Int
    /// Rejected updates by reason (`RejectionReason` raw values).
    public var rejected: [String: Int]
    /// Central evaluation of the new model, when the aggregator has test data.
    public var accuracy: Double?
    public var loss: Double?
    /// Bytes of update payloads received this round (accepted or not).
    public var bytesReceived: Int
    /// Seconds from opening to closing the round.
    public var durationSeconds: Double
    public var deadlineExtensions: Int
    /// sha256 of the model this round produced.
    public var modelSHA256: String
    public var closedAt: Double
    /// Differential privacy of the published model after this round, at `delta`, and against
    /// whom it holds (`threat_model`); absent without privacy.
    public var epsilon: Double?
    public var delta: Double?
    public var threatModel: String?
    /// Which accountant `epsilon` comes from: `rdp` (an upper bound) or `pld` (exact for the
    /// job's Gaussian releases).
    public var accountant: String?
    /// The agents' evaluation of the model the previous round produced, when the policy asks
    /// for federated evaluation (`evaluate_every`).
    public var federated: FederatedEvaluation?
    /// With client selection: the agents picked, and those of them whose update did not count.
    public var selected: [String]?
    public var stragglers: [String]?
    /// With secure aggregation: the neighbour graph, who dropped out, and why a round failed.
    public var secureAggregation: SecAggRoundReport?
    /// Why the round failed, if it did: its model is unchanged and the next round opens.
    public var failure: String?
    /// Asynchronous jobs: how old the applied updates' bases were.
    public var staleness: StalenessReport?
    /// Analytics jobs: each query's answer from this round's agents (their privacy is this
    /// round's `epsilon`, `delta` and `threat_model`).
    public var analytics: [AnalyticsAnswer]?
    /// A central aggregator with sites: each contributing site's count of agents' updates
    /// (`participants` then names sites, `updates` counts agents' updates), and the sites whose
    /// partial did not come before the round closed.
    public var siteUpdates: [String: Int]?
    public var missingSites: [String]?
    /// With client-level privacy: who added the noise, `agents` (local and distributed modes) or
    /// `aggregator` (central mode, the central aggregator with sites). Sites never add noise.
    public var noiseAddedBy: String?

    enum CodingKeys: String, CodingKey {
        case schema, job, round, participants, updates, examples, rejected, accuracy, loss
        case bytesReceived = "bytes_received"
        case durationSeconds = "duration_seconds"
        case deadlineExtensions = "deadline_extensions"
        case modelSHA256 = "model_sha256"
        case closedAt = "closed_at"
        case epsilon, delta, accountant
        case threatModel = "threat_model"
        case federated, selected, stragglers
        case siteUpdates = "site_updates"
        case missingSites = "missing_sites"
        case noiseAddedBy = "noise_added_by"
        case secureAggregation = "secure_aggregation"
        case failure, staleness, analytics
    }

    /// The metrics of a closed round.
    public init(
        job: String, round: Int, participants: [String], updates: Int, examples: Int, rejected: [String: Int],
        accuracy: Double?, loss: Double?, bytesReceived: Int, durationSeconds: Double, deadlineExtensions: Int,
        modelSHA256: String, closedAt: Double, epsilon: Double? = nil, delta: Double? = nil, threatModel: String? = nil,
        federated: FederatedEvaluation? = nil
    ) {
        self.job = job
        self.round = round
        self.participants = participants
        self.updates = updates
        self.examples = examples
        self.rejected = rejected
        self.accuracy = accuracy.flatMap { $0.isFinite ? $0 : nil }
        self.loss = loss.flatMap { $0.isFinite ? $0 : nil }
        self.bytesReceived = bytesReceived
        self.durationSeconds = durationSeconds
        self.deadlineExtensions = deadlineExtensions
        self.modelSHA256 = modelSHA256
        self.closedAt = closedAt
        self.epsilon = epsilon.flatMap { $0.isFinite ? $0 : nil }
        self.delta = delta
        self.threatModel = threatModel
        self.federated = federated
    }

    /// Refuses ids and counts out of range.
    public func validate() throws(ProtocolError) {
        guard Identifier.isValid(job), round >= 1 else { throw .invalidMessage(schema: Self.schema, reason: "job or round is invalid") }
    }
}

/// How a secure-aggregation round went.
public struct SecAggRoundReport: Codable, Sendable, Equatable {
    /// Neighbours per agent (k) and shares needed to rebuild a secret (t); 0 before the graph was made.
    public var degree: Int
    public var threshold: Int
    /// Agents that shared and then sent no masked update: their pairwise masks were removed.
    public var dropped: [String]
    /// Why the round failed (its model is unchanged and the next round retries), if it did.
    public var failure: String?

    /// How a secure round went.
    public init(degree: Int, threshold: Int, dropped: [String], failure: String? = nil) {
        self.degree = degree
        self.threshold = threshold
        self.dropped = dropped
        self.failure = failure
    }
}

/// How stale the updates of one asynchronous buffer were, in versions, and the weights that
/// made of them.
public struct StalenessReport: Codable, Sendable, Equatable {
    public var mean: Double
    public var max: Int
    /// Σ w_i² of the staleness weights: the buffer's agent noise counts as this many full updates.
    public var weightSquares: Double
    /// Each participant's staleness (its update was trained for round r - s of version r).
    public var agents: [String: Int]

    /// The report of a buffer whose agents' updates were `staleness` versions old and weighted `weights`.
    public init(staleness: [String: Int], weights: [Double]) {
        mean = staleness.isEmpty ? 0 : Double(staleness.values.reduce(0, +)) / Double(staleness.count)
        max = staleness.values.max() ?? 0
        weightSquares = weights.reduce(0) { $0 + $1 * $1 }
        agents = staleness
    }

    enum CodingKeys: String, CodingKey {
        case mean, max, agents
        case weightSquares = "weight_squares"
    }
}
