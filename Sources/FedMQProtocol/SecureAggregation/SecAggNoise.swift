import FedMQCore

/// Distributed differential privacy on top of secure aggregation: each agent adds discrete
/// Gaussian noise to its quantized update before masking, so the sum (the only thing ever
/// decoded) carries the target noise even if some agents drop out or collude.
///
/// With clip norm C, noise multiplier z and expected cohort m (`privacy`), and dropout rate
/// δ and corruption rate γ (`settings`): the L2 sensitivity of one quantized update is
/// Δ = C·scale + √d (stochastic rounding moves each of the d entries by less than one), and
/// each agent adds σ = z·Δ / √(m(1 - δ - γ)), so that the honest survivors' noise alone
/// reaches z·Δ. The sum of independent discrete Gaussians is accounted as the Gaussian of the
/// same variance (Kairouz, Liu and Steinke, ICML 2021, show the difference is negligible for
/// σ ≥ 1).
public enum SecAggNoise {
    /// The L2 sensitivity of the quantized sum to one agent, for the noise calibration.
    public static func sensitivity(_ privacy: ClientPrivacy, _ settings: SecureAggregationSettings, dimension: Int) -> Double {
        privacy.clipNorm * settings.quantization.scale + Double(dimension).squareRoot()
    }

    /// σ of the discrete Gaussian each agent adds to every word.
    public static func agentSigma(_ privacy: ClientPrivacy, _ settings: SecureAggregationSettings, dimension: Int) -> Double {
        let honest = max(1, Double(privacy.expectedCohort) * (1 - settings.dropoutRate - settings.corruptionRate))
        return privacy.noiseMultiplier * sensitivity(privacy, settings, dimension: dimension) / honest.squareRoot()
    }

    /// The noise multiplier of the published model when `survivors` of `cohort` agents' masked
    /// updates were summed, against the aggregator and up to γ·cohort colluding agents (whose
    /// own noise it would know).
    public static func publishedMultiplier(
        _ privacy: ClientPrivacy, _ settings: SecureAggregationSettings, dimension: Int, survivors: Int, cohort: Int
    ) -> Double {
        let honest = max(1, survivors - Int((settings.corruptionRate * Double(cohort)).rounded(.down)))
        return agentSigma(privacy, settings, dimension: dimension) * Double(honest).squareRoot()
            / sensitivity(privacy, settings, dimension: dimension)
    }

    /// Adds the agent's noise to its quantized words (modulo 2^32). Throws for a σ the exact
    /// sampler cannot draw (noise fails closed).
    public static func add(
        to words: inout [UInt32], _ privacy: ClientPrivacy, _ settings: SecureAggregationSettings, using random: inout some RandomNumberGenerator
    ) throws(CoreError) {
        let sampler = try DiscreteGaussian(sigma: agentSigma(privacy, settings, dimension: words.count))
        for index in words.indices {
            words[index] &+= UInt32(truncatingIfNeeded: sampler.sample(using: &random))
        }
    }
}
