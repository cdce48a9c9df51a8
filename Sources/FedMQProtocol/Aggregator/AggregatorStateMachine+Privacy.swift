import FedMQCore

/// Differential privacy of the published model: the aggregator's noise in central mode, and
/// each round charged to the accountant with the threat model its epsilon holds against.
extension AggregatorStateMachine {
    /// Central mode: adds the aggregator's noise. Every mode: charges this round to the
    /// published model's accountant and says against whom the resulting epsilon holds.
    mutating func account(
        _ parameters: inout Parameters, updates: Int, secureCohort: Int? = nil
    ) throws(CoreError) -> (epsilon: Double, threatModel: String)? {
        guard let privacy = policy.privacy, var accountant else { return nil }
        var multiplier = privacy.publishedModelMultiplier(updates: updates)
        if let secureCohort, let settings = policy.secureAggregation {
            multiplier = SecAggNoise.publishedMultiplier(
                privacy, settings, dimension: model.parameters.count, survivors: updates, cohort: secureCohort)
        }
        let epsilon = try ModelRelease.charge(
            &parameters, privacy: privacy, accountant: &accountant, updates: updates, multiplier: multiplier, using: &random)
        self.accountant = accountant
        return (epsilon, threatModel(privacy, secureCohort: secureCohort) + (policy.analytics.map(Self.protectedUnit) ?? ""))
    }

    /// Against whom the epsilon holds, by how the updates were combined.
    private func threatModel(_ privacy: ClientPrivacy, secureCohort: Int?) -> String {
        if let secureCohort, let settings = policy.secureAggregation {
            let colluders = Int((settings.corruptionRate * Double(secureCohort)).rounded(.down))
            return
                "anyone who sees the published models, the aggregator included (secure aggregation: it decodes only the sum), with up to \(colluders) agents colluding"
        }
        if policy.homomorphic != nil {
            return
                "anyone who sees the published models; the aggregator sees only ciphertexts and the key holder only their sum, as long as the two do not collude"
        }
        return ModelRelease.threatModel(privacy)
    }

    /// What an analytics job's epsilon protects.
    private static func protectedUnit(_ analytics: AnalyticsSettings) -> String {
        switch analytics.level {
        case .client: "; it protects all of one agent's records"
        case .record: "; it protects one record of one agent (each agent weighing at most \(analytics.maxRecords) records)"
        }
    }
}
