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
        try privacy.addAggregatorNoise(to: &parameters, updates: updates, using: &random)
        var multiplier = privacy.publishedModelMultiplier(updates: updates)
        if let secureCohort, let settings = policy.secureAggregation {
            multiplier = SecAggNoise.publishedMultiplier(
                privacy, settings, dimension: model.parameters.count, survivors: updates, cohort: secureCohort)
        }
        // Noise multipliers are finite and non-negative (validated), so composing cannot fail.
        try? accountant.compose(.gaussian(noiseMultiplier: multiplier))
        self.accountant = accountant
        let epsilon = accountant.epsilon(delta: privacy.delta).epsilon
        let threatModel: String
        if let secureCohort, let settings = policy.secureAggregation {
            let colluders = Int((settings.corruptionRate * Double(secureCohort)).rounded(.down))
            return (
                epsilon,
                "anyone who sees the published models, the aggregator included (secure aggregation: it decodes only the sum), with up to \(colluders) agents colluding"
            )
        }
        switch privacy.mode {
        case .central:
            threatModel = "anyone who sees the published models; the aggregator sees clipped updates without noise"
        case .local, .distributed:
            let perUpdate = String(format: "%.3g", privacy.perUpdateMultiplier ?? 0)
            threatModel =
                "anyone who sees the published models; each update alone carries noise multiplier \(perUpdate) against the broker and the aggregator"
        }
        return (epsilon, threatModel)
    }
}
