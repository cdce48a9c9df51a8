import FedMQCore

/// What the aggregator persists after every round (beside the model's bytes), so that a
/// restart resumes the open round. Updates accepted in the open round are in the spool.
public struct AggregatorCheckpoint: Codable, Sendable, Equatable {
    public static let schema = "fedmq.checkpoint/1"
    public var schema: String = Self.schema
    /// The open round (or the last one, when finished).
    public var announcement: RoundAnnouncement
    /// sha256 of the model bytes stored with this checkpoint.
    public var modelSHA256: String
    public var finished: Bool
    /// The published model's privacy accounting so far (with differential privacy).
    public var accountant: RDPAccountant?
    /// The summary of the round that produced this checkpoint's model: a restart appends it to
    /// the metrics log if the aggregator died before it could.
    public var lastMetrics: RoundMetrics?
    /// A server optimizer's moments after the round that produced the model (FedAvgM, FedAdam ...).
    public var strategyState: [String: [Float]]?
    /// An asynchronous job's memory of past versions and of each agent's last counted update.
    public var asynchronous: VersionHistory?

    enum CodingKeys: String, CodingKey {
        case schema, announcement, finished, accountant, asynchronous
        case modelSHA256 = "model_sha256"
        case lastMetrics = "last_metrics"
        case strategyState = "strategy_state"
    }

    /// The state a restarted aggregator resumes from.
    public init(
        announcement: RoundAnnouncement, modelSHA256: String, finished: Bool, accountant: RDPAccountant? = nil, lastMetrics: RoundMetrics? = nil,
        strategyState: [String: [Float]]? = nil
    ) {
        self.announcement = announcement
        self.modelSHA256 = modelSHA256
        self.finished = finished
        self.accountant = accountant
        self.lastMetrics = lastMetrics
        self.strategyState = strategyState
    }
}
