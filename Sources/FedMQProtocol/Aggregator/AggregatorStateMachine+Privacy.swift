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
        if let secureCohort, let settings = policy.secureAggregation {
            let colluders = Int((settings.corruptionRate * Double(secureCohort)).rounded(.down))
            return (
                epsilon,
                "anyone who sees the published models, the aggregator included (secure aggregation: it decodes only the sum), with up to \(colluders) agents colluding"
            )
        }
        if policy.homomorphic != nil {
            return (
                epsilon,
                "anyone who sees the published models; the aggregator sees only ciphertexts and the key holder only their sum, as long as the two do not collude"
            )
        }
        return (epsilon, ModelRelease.threatModel(privacy))
    }
}
