import FedMQCore

/// How the aggregator runs rounds. JSON keys are snake_case (aggregator config files).
public struct RoundPolicy: Codable, Sendable, Equatable {
    /// Rounds to run; nil (JSON null) runs forever.
    public var rounds: Int?
    /// Close a round as soon as this many updates were accepted.
    public var targetUpdates: Int
    /// At the deadline, close with at least this many; otherwise extend the deadline.
    public var minUpdates: Int
    public var roundSeconds: Double
    public var extensionSeconds: Double
    public var maxUpdateBytes: Int
    public var normBound: Double?
    /// Agents allowed to contribute; nil accepts any valid agent id.
    public var allowedAgents: [String]?
    /// Local training the agents run.
    public var training: TrainingConfig
    public var encoding: TensorEncoding
    public var weighting: FedAvg.Weighting
    /// Client-level differential privacy; requires uniform weighting.
    public var privacy: ClientPrivacy?
    /// A robust or adaptive strategy instead of FedAvg with `weighting`.
    public var strategy: StrategyConfig?
    /// Federated evaluation: agents with held-out data evaluate every k-th global model.
    public var evaluateEvery: Int?
    /// Client selection: only some of the online agents take part in each round.
    public var selection: ClientSelection?
    /// Most agents the aggregator keeps track of (statuses of more distinct ids are ignored).
    public var maxAgents: Int
    /// Most bytes one round's spool may hold: `target_updates` x `max_update_bytes` must fit.
    public var maxSpoolBytes: Int
    /// Secure aggregation: agents send masked updates and only their sum is decoded.
    public var secureAggregation: SecureAggregationSettings?
    /// The largest example count an update is weighted by (agents report their own).
    public var maxExamplesPerUpdate: Int

    public static let defaultMaxAgents = 100_000
    public static let defaultMaxSpoolBytes = 16 << 30
    public static let defaultMaxExamplesPerUpdate = 1_000_000

    public init(
        rounds: Int? = 10, targetUpdates: Int, minUpdates: Int, roundSeconds: Double = 60, extensionSeconds: Double = 30,
        maxUpdateBytes: Int = 64 << 20, normBound: Double? = nil, allowedAgents: [String]? = nil,
        training: TrainingConfig = .init(), encoding: TensorEncoding = .float32, weighting: FedAvg.Weighting = .examples,
        privacy: ClientPrivacy? = nil
    ) {
        self.rounds = rounds
        self.targetUpdates = targetUpdates
        self.minUpdates = minUpdates
        self.roundSeconds = roundSeconds
        self.extensionSeconds = extensionSeconds
        self.maxUpdateBytes = maxUpdateBytes
        self.normBound = normBound
        self.allowedAgents = allowedAgents
        self.training = training
        self.encoding = encoding
        self.weighting = weighting
        self.privacy = privacy
        maxAgents = Self.defaultMaxAgents
        maxSpoolBytes = Self.defaultMaxSpoolBytes
        maxExamplesPerUpdate = Self.defaultMaxExamplesPerUpdate
    }

    enum CodingKeys: String, CodingKey {
        case rounds, training, encoding, weighting, privacy, strategy, selection, evaluateEvery = "evaluate_every"
        case maxAgents = "max_agents", maxSpoolBytes = "max_spool_bytes"
        case targetUpdates = "target_updates", minUpdates = "min_updates", roundSeconds = "round_seconds"
        case extensionSeconds = "extension_seconds", maxUpdateBytes = "max_update_bytes", normBound = "norm_bound"
        case allowedAgents = "allowed_agents", secureAggregation = "secure_aggregation", maxExamplesPerUpdate = "max_examples_per_update"
    }

    /// Fields other than `target_updates` may be left out; they take the defaults above
    /// (`min_updates` defaults to `target_updates`).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = RoundPolicy(targetUpdates: 1, minUpdates: 1)
        rounds = container.contains(.rounds) ? try container.decodeIfPresent(Int.self, forKey: .rounds) : defaults.rounds
        targetUpdates = try container.decode(Int.self, forKey: .targetUpdates)
        minUpdates = try container.decodeIfPresent(Int.self, forKey: .minUpdates) ?? targetUpdates
        roundSeconds = try container.decodeIfPresent(Double.self, forKey: .roundSeconds) ?? defaults.roundSeconds
        extensionSeconds = try container.decodeIfPresent(Double.self, forKey: .extensionSeconds) ?? defaults.extensionSeconds
        maxUpdateBytes = try container.decodeIfPresent(Int.self, forKey: .maxUpdateBytes) ?? defaults.maxUpdateBytes
        normBound = try container.decodeIfPresent(Double.self, forKey: .normBound)
        allowedAgents = try container.decodeIfPresent([String].self, forKey: .allowedAgents)
        training = try container.decodeIfPresent(TrainingConfig.self, forKey: .training) ?? defaults.training
        encoding = try container.decodeIfPresent(TensorEncoding.self, forKey: .encoding) ?? defaults.encoding
        privacy = try container.decodeIfPresent(ClientPrivacy.self, forKey: .privacy)
        strategy = try container.decodeIfPresent(StrategyConfig.self, forKey: .strategy)
        evaluateEvery = try container.decodeIfPresent(Int.self, forKey: .evaluateEvery)
        selection = try container.decodeIfPresent(ClientSelection.self, forKey: .selection)
        maxAgents = try container.decodeIfPresent(Int.self, forKey: .maxAgents) ?? Self.defaultMaxAgents
        maxSpoolBytes = try container.decodeIfPresent(Int.self, forKey: .maxSpoolBytes) ?? Self.defaultMaxSpoolBytes
        secureAggregation = try container.decodeIfPresent(SecureAggregationSettings.self, forKey: .secureAggregation)
        maxExamplesPerUpdate = try container.decodeIfPresent(Int.self, forKey: .maxExamplesPerUpdate) ?? Self.defaultMaxExamplesPerUpdate
        weighting = try container.decodeIfPresent(FedAvg.Weighting.self, forKey: .weighting) ?? (privacy == nil ? defaults.weighting : .uniform)
    }

    /// What an operator should hear at start when nothing bounds one update's influence: no
    /// client-level privacy (which clips) and no norm bound. Nil when updates are bounded.
    public var unboundedUpdatesWarning: String? {
        guard privacy == nil, normBound == nil, secureAggregation == nil else { return nil }
        return "policy has neither privacy nor norm_bound: one agent's update may move the model without limit (set norm_bound)"
    }

    public func validate() throws(ProtocolError) {
        func invalid(_ text: String) -> ProtocolError { .invalidConfiguration(text) }
        if let rounds, rounds < 1 { throw invalid("rounds must be at least 1 (or absent to run forever)") }
        if minUpdates < 1 || targetUpdates < minUpdates { throw invalid("need 1 <= min_updates <= target_updates") }
        if !(roundSeconds > 0 && roundSeconds.isFinite) { throw invalid("round_seconds must be positive") }
        if !(extensionSeconds > 0 && extensionSeconds.isFinite) { throw invalid("extension_seconds must be positive") }
        if maxUpdateBytes < 64 { throw invalid("max_update_bytes is too small") }
        if !(1...(1 << 40)).contains(maxExamplesPerUpdate) { throw invalid("max_examples_per_update must be within 1...2^40") }
        if maxAgents < targetUpdates { throw invalid("max_agents (\(maxAgents)) must be at least target_updates (\(targetUpdates))") }
        if targetUpdates.multipliedReportingOverflow(by: maxUpdateBytes).overflow || targetUpdates * maxUpdateBytes > maxSpoolBytes {
            throw invalid(
                "a round may spool target_updates x max_update_bytes = \(targetUpdates) x \(maxUpdateBytes) bytes, more than max_spool_bytes (\(maxSpoolBytes))")
        }
        if let normBound, !(normBound > 0 && normBound.isFinite) { throw invalid("norm_bound must be positive") }
        for agent in allowedAgents ?? [] { try Identifier.validate(agent, kind: "agent") }
        if let evaluateEvery, evaluateEvery < 1 { throw invalid("evaluate_every must be at least 1") }
        try selection?.validate()
        do {
            try training.validate()
            try privacy?.validate()
        } catch {
            throw invalid("\(error)")
        }
        if privacy != nil && weighting != .uniform {
            throw invalid("differential privacy needs weighting 'uniform' (one agent must move the mean by at most C/n)")
        }
        if let secure = secureAggregation {
            try secure.validate(cohort: allowedAgents?.count ?? targetUpdates)
            if weighting != .uniform { throw invalid("secure aggregation decodes only a sum: it needs weighting 'uniform'") }
            if let strategy, strategy.name != "mean" { throw invalid("secure aggregation gives the plain mean only (strategy 'mean')") }
            if selection != nil { throw invalid("secure aggregation does not work with client selection yet") }
            if let privacy, privacy.mode != .distributed {
                throw invalid("with secure aggregation, differential privacy runs in 'distributed' mode (no single update is ever seen)")
            }
        }
        if let strategy {
            let needed: Int
            do {
                needed = try strategy.minimumUpdates()
            } catch {
                throw invalid("\(error)")
            }
            // A round may close with min_updates: the strategy must be able to aggregate that many.
            if minUpdates < needed {
                throw invalid("strategy '\(strategy.name)' needs at least \(needed) updates per round; min_updates is \(minUpdates)")
            }
            if privacy != nil && strategy.name != "mean" {
                throw invalid("differential privacy's accounting holds for the plain mean only (strategy 'mean')")
            }
        }
    }
}
