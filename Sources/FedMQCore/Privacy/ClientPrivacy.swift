import FoundationEssentials

/// Client-level differential privacy on model updates: each agent clips its whole delta to
/// L2 norm C; discrete Gaussian noise with multiplier z (`GridNoise`, exact integer sampling)
/// is added on the device (`local`: all of it; `distributed`: a 1/√m share, so that m updates
/// together carry z) or by the aggregator (`central`: agents only clip). The aggregate is the
/// unweighted mean of the updates, so one agent moves it by at most C/n.
public struct ClientPrivacy: Codable, Sendable, Equatable {
    /// Where the noise is added: on each device, split across the cohort, or at the aggregator.
    public enum Mode: String, Codable, Sendable, CaseIterable {
        case local, distributed, central
    }

    public var mode: Mode
    /// C: the L2 bound on each agent's delta.
    public var clipNorm: Double
    /// z: noise standard deviation in units of the sensitivity.
    public var noiseMultiplier: Double
    /// m: the cohort the distributed shares are sized for.
    public var expectedCohort: Int
    /// The delta every reported epsilon is for.
    public var delta: Double
    /// Which accountant the published model's epsilon comes from.
    public var accountant: Accountant

    /// How the published model's releases are accounted for.
    public enum Accountant: String, Codable, Sendable, CaseIterable {
        /// Rényi DP (dp-accounting's orders and conversion): an upper bound.
        case rdp
        /// The privacy loss distribution of the releases: each is a Gaussian mechanism, so their
        /// composition is one, and its epsilon is exact (`AnalyticGaussian`): 1.5–9.5% below RDP's.
        case pld
    }

    /// Client-level DP with clip norm C and noise multiplier z.
    public init(
        mode: Mode, clipNorm: Double, noiseMultiplier: Double, expectedCohort: Int = 1, delta: Double = 1e-5, accountant: Accountant = .rdp
    ) {
        self.mode = mode
        self.clipNorm = clipNorm
        self.noiseMultiplier = noiseMultiplier
        self.expectedCohort = expectedCohort
        self.delta = delta
        self.accountant = accountant
    }

    enum CodingKeys: String, CodingKey {
        case mode, delta, accountant
        case clipNorm = "clip_norm"
        case noiseMultiplier = "noise_multiplier"
        case expectedCohort = "expected_cohort"
    }

    /// Every key is required but `accountant` (rdp when absent: what jobs and messages said
    /// before it existed) and `clip_norm` (0 when absent, which `validate` refuses: an analytics
    /// job derives it from its queries).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        mode = try container.decode(Mode.self, forKey: .mode)
        clipNorm = try container.decodeIfPresent(Double.self, forKey: .clipNorm) ?? 0
        noiseMultiplier = try container.decode(Double.self, forKey: .noiseMultiplier)
        expectedCohort = try container.decode(Int.self, forKey: .expectedCohort)
        delta = try container.decode(Double.self, forKey: .delta)
        accountant = try container.decodeIfPresent(Accountant.self, forKey: .accountant) ?? .rdp
    }

    /// Every key, but `clip_norm` while it is 0 (an analytics job's, derived from its queries).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(mode, forKey: .mode)
        if clipNorm != 0 { try container.encode(clipNorm, forKey: .clipNorm) }
        try container.encode(noiseMultiplier, forKey: .noiseMultiplier)
        try container.encode(expectedCohort, forKey: .expectedCohort)
        try container.encode(delta, forKey: .delta)
        try container.encode(accountant, forKey: .accountant)
    }

    /// Refuses a clip norm that is not positive, a negative multiplier, a cohort below 1 and a delta outside (0, 1).
    public func validate() throws(CoreError) {
        guard clipNorm > 0, clipNorm.isFinite else { throw .invalidTraining("privacy clip_norm is missing or not positive") }
        guard noiseMultiplier >= 0, noiseMultiplier.isFinite else { throw .invalidTraining("privacy noise_multiplier must be >= 0") }
        guard expectedCohort >= 1 else { throw .invalidTraining("privacy expected_cohort must be at least 1") }
        guard delta > 0, delta < 1 else { throw .invalidTraining("privacy delta must be in (0, 1)") }
    }

    /// The noise multiplier of what each agent adds: z (local), z/√m (distributed), 0 (central).
    public var agentMultiplier: Double {
        switch mode {
        case .local: noiseMultiplier
        case .distributed: noiseMultiplier / Double(expectedCohort).squareRoot()
        case .central: 0
        }
    }

    /// Standard deviation of the noise each agent adds to its clipped delta of `dimension`
    /// entries: the multiplier times the grid's sensitivity, about C.
    public func agentNoiseStd(dimension: Int) -> Double {
        GridNoise.std(multiplier: agentMultiplier, clipNorm: clipNorm, dimension: dimension)
    }

    /// Central mode: the aggregator's noise on the mean of `updates` clipped updates (z on their sum).
    public func addAggregatorNoise(to mean: inout Parameters, updates: Int, using random: inout some RandomNumberGenerator) throws(CoreError) {
        guard mode == .central else { return }
        try GridNoise.add(to: &mean, multiplier: noiseMultiplier, clipNorm: clipNorm, magnify: Double(max(1, updates)), using: &random)
    }

    /// The noise multiplier one round gives the published model, with `updates` updates
    /// averaged: local z·√n, distributed z·√(n/m), central z.
    public func publishedModelMultiplier(updates: Int) -> Double {
        publishedModelMultiplier(weightSquares: Double(max(1, updates)))
    }

    /// The same for updates scaled by weights w_i <= 1 before they are averaged (asynchronous
    /// aggregation's staleness weights): one agent still moves the sum by at most C, while the
    /// agents' noise in it shrinks to z·C·√(Σ w_i²). So local z·√(Σ w_i²), distributed
    /// z·√(Σ w_i² / m), central z.
    public func publishedModelMultiplier(weightSquares: Double) -> Double {
        let n = max(weightSquares, 0)
        switch mode {
        case .local: return noiseMultiplier * n.squareRoot()
        case .distributed: return noiseMultiplier * (n / Double(expectedCohort)).squareRoot()
        case .central: return noiseMultiplier
        }
    }

    /// The multiplier protecting one update from whoever sees it (broker, aggregator); nil in
    /// central mode, where the update is only clipped.
    public var perUpdateMultiplier: Double? {
        mode == .central ? nil : agentMultiplier
    }

    /// Clips `delta` to `contributionBound` (the clip norm unless given) and adds the agent's
    /// share of the noise, sized for the clip norm. An analytics job clips each agent's vector
    /// to its bound C while the clip norm is the sensitivity Δ ≤ C of the unit it protects.
    /// Returns the norm before clipping.
    @discardableResult
    public func privatize(
        _ delta: inout Parameters, contributionBound: Double? = nil, using random: inout some RandomNumberGenerator
    ) throws(CoreError) -> Double {
        let norm = delta.clip(norm: contributionBound ?? clipNorm)
        try GridNoise.add(to: &delta, multiplier: agentMultiplier, clipNorm: clipNorm, using: &random)
        return norm
    }

    /// The largest L2 norm a correctly privatized update of `dimension` values has, except
    /// with probability below e^-50: its bound (C, or an analytics vector's), the grid
    /// rounding's √d steps, and the noise's norm bound σ(√d + 10).
    public func acceptableNorm(dimension: Int, contributionBound: Double? = nil) -> Double {
        let rounding = agentMultiplier > 0 ? Double(dimension).squareRoot() / GridNoise.scale(clipNorm: clipNorm) : 0
        return (contributionBound ?? clipNorm) + rounding + agentNoiseStd(dimension: dimension) * (Double(dimension).squareRoot() + 10)
    }
}

/// Gaussian noise for privacy. Callers pass a cryptographically secure generator in
/// production (`SystemRandomNumberGenerator`, which reads the kernel's CSPRNG); tests pass a
/// seeded one.
public enum GaussianNoise {
    /// Fails closed: a standard deviation that is negative or not finite is an error, never "no noise".
    public static func add(to parameters: inout Parameters, std: Double, using random: inout some RandomNumberGenerator) throws(CoreError) {
        guard std.isFinite, std >= 0 else { throw .invalidTraining("noise standard deviation \(std) is not usable") }
        guard std > 0 else { return }
        for index in parameters.tensors.indices {
            parameters.withValues(at: index) { values in
                for i in values.indices { values[i] += Float(random.nextGaussian() * std) }
            }
        }
    }
}
