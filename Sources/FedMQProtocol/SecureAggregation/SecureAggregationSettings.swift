/// A job's secure-aggregation round mode (`policy.secure_aggregation`, repeated in every round
/// announcement): agents send masked, quantized updates and the aggregator learns only their
/// sum. Needs an enrolled fleet (every agent has an identity key) and the plain mean.
public struct SecureAggregationSettings: Codable, Sendable, Equatable {
    /// Share of the cohort expected to drop out after sharing (sizes k and t).
    public var dropoutRate: Double
    /// Share of the cohort that may collude with the aggregator (sizes k and t).
    public var corruptionRate: Double
    /// Quantization: entries clipped to [-clip, clip], times `scale`, rounded.
    public var quantization: SecAggQuantization
    /// Each stage (keys, shares, masked updates, reveals) waits at most this long.
    public var stageSeconds: Double

    /// Secure aggregation with these rates, quantization and stage deadline.
    public init(dropoutRate: Double = 0.1, corruptionRate: Double = 0.1, quantization: SecAggQuantization, stageSeconds: Double = 30) {
        self.dropoutRate = dropoutRate
        self.corruptionRate = corruptionRate
        self.quantization = quantization
        self.stageSeconds = stageSeconds
    }

    enum CodingKeys: String, CodingKey {
        case quantization
        case dropoutRate = "dropout_rate"
        case corruptionRate = "corruption_rate"
        case stageSeconds = "stage_seconds"
    }

    /// Refuses rates, quantization or a deadline that cannot work for `cohort` agents.
    public func validate(cohort: Int) throws(ProtocolError) {
        guard (0..<0.5).contains(dropoutRate), (0..<0.5).contains(corruptionRate) else {
            throw .invalidConfiguration("secure_aggregation dropout_rate and corruption_rate must be within 0 and 0.5")
        }
        guard stageSeconds > 0, stageSeconds.isFinite else { throw .invalidConfiguration("secure_aggregation stage_seconds must be positive") }
        try quantization.validate(cohort: cohort)
    }
}

/// The stages of a secure-aggregation round, as named in topics.
public enum SecAggStage: String, Sendable, CaseIterable {
    /// Agent → aggregator.
    case keys, shares, masked, reveal
}

/// What the aggregator sends one agent (`round/<r>/secagg/inbox/<agent>/<kind>`).
public enum SecAggInboxKind: String, Sendable, CaseIterable {
    case roster, delivery
}
