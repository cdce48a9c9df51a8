import FedMQCore

/// The least privacy an agent's owner accepts, whatever a round announcement asks for. The
/// aggregator writes the announcements, so an agent that trusted them would publish a raw
/// delta the moment one said `privacy: null`; with this policy it refuses such a round
/// instead (`privacy_policy` in the agent's config). Every field has its default here.
public struct AgentPrivacyPolicy: Codable, Sendable, Equatable {
    /// Client-level privacy modes this agent accepts; nil accepts every mode.
    public var modes: [ClientPrivacy.Mode]?
    /// The smallest noise multiplier z accepted in a round's client-level privacy.
    public var minNoiseMultiplier = 0.0
    /// The largest cohort m that distributed noise may be sized for (each agent adds z·C/√m, so
    /// a larger m means less noise on this agent's update); nil accepts any.
    public var maxExpectedCohort: Int?
    /// Refuse rounds without client-level privacy. An agent with a privacy budget always does.
    public var requirePrivacy = false
    /// Secure aggregation: the smallest cohort this agent shares secrets in.
    public var minSecureCohort = 3
    /// Secure aggregation: floors on the dropout and corruption rates the neighbour count and
    /// threshold are derived for (an announcement may raise them, never lower them).
    public var minDropoutRate = 0.0
    public var minCorruptionRate = 0.0

    /// Accepts what any round asks for: no floors.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case modes
        case minNoiseMultiplier = "min_noise_multiplier"
        case maxExpectedCohort = "max_expected_cohort"
        case requirePrivacy = "require_privacy"
        case minSecureCohort = "min_secure_cohort"
        case minDropoutRate = "min_dropout_rate"
        case minCorruptionRate = "min_corruption_rate"
    }

    /// Refuses floors that make no sense, naming the field.
    public func validate() throws(ProtocolError) {
        guard minNoiseMultiplier >= 0, minNoiseMultiplier.isFinite else {
            throw .invalidConfiguration("privacy_policy.min_noise_multiplier must be a finite number >= 0")
        }
        if let maxExpectedCohort, maxExpectedCohort < 1 { throw .invalidConfiguration("privacy_policy.max_expected_cohort must be at least 1") }
        guard (2...1_000_000).contains(minSecureCohort) else {
            throw .invalidConfiguration("privacy_policy.min_secure_cohort must be within 2...1000000")
        }
        guard (0..<0.5).contains(minDropoutRate), (0..<0.5).contains(minCorruptionRate) else {
            throw .invalidConfiguration("privacy_policy.min_dropout_rate and min_corruption_rate must be within 0 and 0.5")
        }
    }

    /// Why this agent must refuse `announcement`, or nil when it may take part. `budgeted`: the
    /// agent has a privacy budget, so a round without client-level privacy is refused too.
    public func refusal(of announcement: RoundAnnouncement, budgeted: Bool) -> String? {
        guard let privacy = announcement.privacy else {
            return requirePrivacy || budgeted ? "the round has no client-level privacy, which this agent's policy requires" : nil
        }
        if let modes, !modes.contains(privacy.mode) {
            return "privacy mode \(privacy.mode.rawValue) is not one of this agent's (\(modes.map(\.rawValue).joined(separator: ", ")))"
        }
        if privacy.noiseMultiplier < minNoiseMultiplier {
            return "noise multiplier \(privacy.noiseMultiplier) is below this agent's minimum \(minNoiseMultiplier)"
        }
        if let maxExpectedCohort, privacy.mode == .distributed, privacy.expectedCohort > maxExpectedCohort {
            return "distributed noise sized for \(privacy.expectedCohort) agents; this agent assumes at most \(maxExpectedCohort)"
        }
        return nil
    }

    /// What this agent demands of a secure round announced with `settings`, in a fleet of `enrolled` agents.
    public func secureRequirements(_ settings: SecureAggregationSettings, enrolled: [String: VerifyingKey]) -> SecAggRequirements {
        SecAggRequirements(
            enrolled: enrolled, minimumCohort: minSecureCohort, dropoutRate: max(settings.dropoutRate, minDropoutRate),
            corruptionRate: max(settings.corruptionRate, minCorruptionRate))
    }
}
