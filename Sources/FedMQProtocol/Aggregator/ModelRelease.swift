import FedMQCore

/// What publishing an aggregate costs in privacy, for every job mode: the aggregator's noise in
/// central mode, one composition in the published model's accountant, and the epsilon that
/// results with the threat model it holds against.
enum ModelRelease {
    /// Adds central noise to `parameters` (the mean of `updates` clipped updates) and charges a
    /// release whose noise multiplier, on the published model, is `multiplier`.
    static func charge(
        _ parameters: inout Parameters, privacy: ClientPrivacy, accountant: inout RDPAccountant, updates: Int, multiplier: Double,
        using random: inout any RandomNumberGenerator
    ) throws(CoreError) -> Double {
        try privacy.addAggregatorNoise(to: &parameters, updates: updates, using: &random)
        // Noise multipliers are finite and non-negative (validated), so composing cannot fail.
        try? accountant.compose(.gaussian(noiseMultiplier: multiplier))
        return epsilon(accountant, privacy)
    }

    /// The published model's epsilon so far, by the job's accountant: exact for the Gaussian
    /// releases with `pld` (RDP's bound where the accountant predates the exact sum).
    static func epsilon(_ accountant: RDPAccountant, _ privacy: ClientPrivacy) -> Double {
        if privacy.accountant == .pld, let exact = accountant.exactEpsilon(delta: privacy.delta) { return exact }
        return accountant.epsilon(delta: privacy.delta).epsilon
    }

    /// Which accountant `epsilon` used.
    static func accountantName(_ accountant: RDPAccountant, _ privacy: ClientPrivacy) -> String {
        privacy.accountant == .pld && accountant.gaussianPrecision != nil ? "pld" : "rdp"
    }

    /// Against whom the published model's epsilon holds when no secure aggregation hides the updates.
    static func threatModel(_ privacy: ClientPrivacy) -> String {
        switch privacy.mode {
        case .central:
            return "anyone who sees the published models; the aggregator sees clipped updates without noise"
        case .local, .distributed:
            let perUpdate = PrintfFormat.string("%.3g", privacy.perUpdateMultiplier ?? 0)
            return
                "anyone who sees the published models; each update alone carries noise multiplier \(perUpdate) against the broker and the aggregator"
        }
    }
}
