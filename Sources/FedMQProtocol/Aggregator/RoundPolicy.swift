import FedMQCore

/// How the aggregator runs rounds. JSON keys are snake_case (aggregator config files); every
/// field but `target_updates` has its default here, so a field is its declaration and its key
/// in `CodingKeys`.
public struct RoundPolicy: Codable, Sendable, Equatable {
    /// Rounds to run; nil (JSON null) runs forever.
    public var rounds: Int? = 10
    /// Close a round as soon as this many updates were accepted.
    public var targetUpdates: Int
    /// At the deadline, close with at least this many; otherwise extend the deadline.
    /// Defaults to `target_updates`.
    public var minUpdates: Int {
        get { minUpdatesSetting ?? targetUpdates }
        set { minUpdatesSetting = newValue }
    }
    private var minUpdatesSetting: Int?
    public var roundSeconds = 60.0
    public var extensionSeconds = 30.0
    public var maxUpdateBytes = 64 << 20
    public var normBound: Double?
    /// Agents allowed to contribute; nil accepts any valid agent id.
    public var allowedAgents: [String]?
    /// Local training the agents run.
    public var training = TrainingConfig()
    public var encoding = TensorEncoding.float32
    /// How updates are weighted in the mean. Defaults to `examples`, and to `uniform` with
    /// client-level privacy, secure aggregation or analytics (which need it).
    public var weighting: FedAvg.Weighting {
        get {
            weightingSetting
                ?? (privacySetting == nil && secureAggregation == nil && homomorphic == nil && analytics == nil ? .examples : .uniform)
        }
        set { weightingSetting = newValue }
    }
    private var weightingSetting: FedAvg.Weighting?
    /// Client-level differential privacy; requires uniform weighting. In an analytics job its
    /// clip norm is the queries' sensitivity (`AnalyticsSettings.sensitivity`), never set by hand.
    public var privacy: ClientPrivacy? {
        get {
            guard var privacy = privacySetting, let analytics else { return privacySetting }
            privacy.clipNorm = analytics.sensitivity
            return privacy
        }
        set { privacySetting = newValue }
    }
    private var privacySetting: ClientPrivacy?
    /// Server-side ensemble distillation (FedDF): each round's mean is fine-tuned on the
    /// aggregator's unlabeled public data towards the mean logits of the round's client models.
    public var serverDistillation: ServerDistillation?
    /// A federated analytics job: agents answer these queries from their records instead of
    /// training, and each round's metrics carry the answers.
    public var analytics: AnalyticsSettings?
    /// A robust or adaptive strategy instead of FedAvg with `weighting`.
    public var strategy: StrategyConfig?
    /// Federated evaluation: agents with held-out data evaluate every k-th global model.
    public var evaluateEvery: Int?
    /// Client selection: only some of the online agents take part in each round.
    public var selection: ClientSelection?
    /// Most agents the aggregator keeps track of (statuses of more distinct ids are ignored).
    public var maxAgents = 100_000
    /// Most bytes one round's spool may hold: `target_updates` x `max_update_bytes` must fit.
    public var maxSpoolBytes = 16 << 30
    /// Secure aggregation: agents send masked updates and only their sum is decoded.
    public var secureAggregation: SecureAggregationSettings?
    /// Homomorphic aggregation: agents send Paillier-encrypted updates and only the key holder's
    /// decryption of their product is ever seen in the clear.
    public var homomorphic: HomomorphicSettings?
    /// The largest example count an update is weighted by (agents report their own).
    public var maxExamplesPerUpdate = 1_000_000
    /// Rounds, or asynchronous buffers: then `target_updates` is the buffer's size, `rounds`
    /// counts versions, and a buffer holding `min_updates` is applied once `round_seconds` passed.
    public var mode = JobMode.rounds
    /// An asynchronous job's staleness rules; its defaults unless set.
    public var asynchronous: AsynchronousSettings? {
        get { mode == .asynchronous ? (asynchronousSetting ?? AsynchronousSettings()) : nil }
        set { asynchronousSetting = newValue }
    }
    private var asynchronousSetting: AsynchronousSettings?
    /// Hierarchical aggregation: the site aggregators whose partial aggregates this (central)
    /// aggregator folds instead of agents' updates. `target_updates` and `min_updates` then
    /// count sites: the round closes when that many partials arrived, or at the deadline with
    /// the quorum of sites.
    public var sites: [String]?
    /// The sites are ingest shards on this aggregator's own broker (site aggregators that share
    /// the agents' updates through an MQTT 5 shared subscription), not bridged sites.
    public var ingestShards = false

    /// The fields most jobs set; the others keep their defaults until set.
    public init(
        rounds: Int? = 10, targetUpdates: Int, minUpdates: Int?, roundSeconds: Double = 60, extensionSeconds: Double = 30,
        maxUpdateBytes: Int = 64 << 20, normBound: Double? = nil, training: TrainingConfig = .init(), encoding: TensorEncoding = .float32,
        weighting: FedAvg.Weighting? = nil, privacy: ClientPrivacy? = nil
    ) {
        self.rounds = rounds
        self.targetUpdates = targetUpdates
        minUpdatesSetting = minUpdates
        self.roundSeconds = roundSeconds
        self.extensionSeconds = extensionSeconds
        self.maxUpdateBytes = maxUpdateBytes
        self.normBound = normBound
        self.training = training
        self.encoding = encoding
        weightingSetting = weighting
        self.privacy = privacy
    }

    enum CodingKeys: String, CodingKey {
        case rounds, training, encoding, strategy, selection, mode, homomorphic, analytics, sites
        case privacySetting = "privacy"
        case serverDistillation = "server_distillation"
        case asynchronousSetting = "asynchronous"
        case ingestShards = "ingest_shards"
        case evaluateEvery = "evaluate_every"
        case maxAgents = "max_agents"
        case maxSpoolBytes = "max_spool_bytes"
        case weightingSetting = "weighting"
        case targetUpdates = "target_updates"
        case minUpdatesSetting = "min_updates"
        case roundSeconds = "round_seconds"
        case extensionSeconds = "extension_seconds"
        case maxUpdateBytes = "max_update_bytes"
        case normBound = "norm_bound"
        case allowedAgents = "allowed_agents"
        case secureAggregation = "secure_aggregation"
        case maxExamplesPerUpdate = "max_examples_per_update"
    }

    /// Whether this job counts on its agents to send an update again when a restarted
    /// aggregator's round announcement does not list them in `received`: plain rounds only. A
    /// secure round's stages move on without a lost update, with sites or ingest shards
    /// `received` names sites, and homomorphic, asynchronous and analytics jobs keep the fsync
    /// their recovery has been tested with.
    public var agentsResendLostUpdates: Bool {
        mode == .rounds && secureAggregation == nil && homomorphic == nil && analytics == nil && sites == nil && !ingestShards
    }

    /// What an operator should hear at start when nothing bounds one update's influence: no
    /// client-level privacy (which clips) and no norm bound. Nil when updates are bounded.
    public var unboundedUpdatesWarning: String? {
        guard privacy == nil, normBound == nil, secureAggregation == nil, homomorphic == nil, analytics == nil else { return nil }
        return "policy has neither privacy nor norm_bound: one agent's update may move the model without limit (set norm_bound)"
    }

    /// Refuses a policy the aggregator cannot run, naming the field.
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
                "a round may spool target_updates x max_update_bytes = \(targetUpdates) x \(maxUpdateBytes) bytes, more than max_spool_bytes (\(maxSpoolBytes))"
            )
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
        if let homomorphic {
            try homomorphic.validate(cohort: targetUpdates)
            if secureAggregation != nil { throw invalid("choose secure_aggregation or homomorphic, not both") }
            if weighting != .uniform { throw invalid("homomorphic aggregation decrypts only a sum: it needs weighting 'uniform'") }
            if let strategy, strategy.name != "mean" { throw invalid("homomorphic aggregation gives the plain mean only (strategy 'mean')") }
        }
        try validateMode()
        try validateSites()
        try validateAnalytics()
        try validateServerDistillation()
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

    /// An analytics job sums the agents' vectors: the plain mean of all of them, in rounds,
    /// with no evaluation, and a clip norm that comes from its queries.
    private func validateAnalytics() throws(ProtocolError) {
        guard let analytics else { return }
        do {
            try analytics.validate()
        } catch {
            throw .invalidConfiguration("\(error)")
        }
        func refuse(_ what: String) -> ProtocolError { .invalidConfiguration("an analytics job \(what)") }
        if let given = privacySetting?.clipNorm, given != 0, abs(given - analytics.sensitivity) > 1e-9 * analytics.sensitivity {
            throw refuse(
                "takes its clip_norm from its queries (\(analytics.sensitivity) at level \(analytics.level.rawValue)); leave privacy.clip_norm out")
        }
        if normBound != nil { throw refuse("bounds each agent's vector by its queries (leave out norm_bound)") }
        if weighting != .uniform { throw refuse("adds the agents' statistics: it needs weighting 'uniform'") }
        if let strategy, strategy.name != "mean" { throw refuse("adds the agents' statistics: it needs strategy 'mean'") }
        if mode != .rounds { throw refuse("runs in mode 'rounds'") }
        if homomorphic != nil { throw refuse("does not run under homomorphic aggregation yet (use secure_aggregation)") }
        if evaluateEvery != nil { throw refuse("has no model to evaluate (leave out evaluate_every)") }
        if training.dpSGD != nil { throw refuse("does not train: leave out training.dp_sgd (agents would charge what they never ran)") }
        if let secure = secureAggregation, secure.quantization.clip < 1 {
            throw refuse("needs secure_aggregation.quantization.clip of at least 1 (every entry of an agent's vector lies in [-1, 1])")
        }
    }

    /// FedDF distills from every client model of a round: the aggregator must see each one.
    private func validateServerDistillation() throws(ProtocolError) {
        guard let serverDistillation else { return }
        do {
            try serverDistillation.validate()
        } catch {
            throw .invalidConfiguration("\(error)")
        }
        func refuse(_ what: String) -> ProtocolError {
            .invalidConfiguration("server_distillation sees every client model, so it cannot run \(what)")
        }
        if secureAggregation != nil { throw refuse("under secure aggregation (which hides them)") }
        if homomorphic != nil { throw refuse("under homomorphic aggregation (which hides them)") }
        if privacy != nil {
            throw refuse("with client-level privacy (the distilled model would be fitted to un-noised client models; no epsilon would hold)")
        }
        if let strategy, strategy.name != "mean" { throw refuse("with strategy '\(strategy.name)' (it distills FedAvg's mean)") }
        if mode != .rounds { throw refuse("in mode '\(mode.rawValue)'") }
        if analytics != nil { throw refuse("in an analytics job") }
    }

    /// An asynchronous job runs without what needs a round's fixed cohort.
    private func validateMode() throws(ProtocolError) {
        guard mode == .asynchronous else {
            if asynchronousSetting != nil { throw .invalidConfiguration("'asynchronous' settings need \"mode\": \"asynchronous\"") }
            return
        }
        try asynchronous?.validate()
        if secureAggregation != nil {
            throw .invalidConfiguration("secure aggregation is round-based: its stages need a fixed cohort, which mode 'asynchronous' has not")
        }
        if selection != nil {
            throw .invalidConfiguration("client selection picks agents per round; mode 'asynchronous' takes every eligible agent's update")
        }
        if homomorphic != nil {
            throw .invalidConfiguration("homomorphic aggregation decrypts one aggregate per round; mode 'asynchronous' has no rounds to close")
        }
    }
}
