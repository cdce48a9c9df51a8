/// Epsilon by privacy loss distributions, as dp-accounting's `PLDAccountant` computes it
/// (loss grid 1e-4, connect-the-dots, pessimistic): much tighter than RDP for Poisson-sampled
/// mechanisms at small sampling rates.
public enum PLDAccountant {
    /// The finest loss grid (dp-accounting's `value_discretization_interval`).
    public static let interval = 1e-4

    /// Epsilon at `delta` of `steps` compositions of the Gaussian mechanism with `noiseMultiplier`
    /// on a Poisson sample of rate `samplingProbability` (1: no sampling, then exact).
    public static func epsilon(samplingProbability q: Double, noiseMultiplier z: Double, steps: Int, delta: Double) throws(CoreError) -> Double {
        guard (0...1).contains(q), z >= 0, z.isFinite, steps >= 0, delta > 0, delta < 1 else {
            throw .invalidTraining("PLD accounting needs q in [0, 1], z >= 0, steps >= 0 and delta in (0, 1)")
        }
        guard q > 0, steps > 0 else { return 0 }
        guard z > 0 else { return .infinity }
        if q >= 1 { return AnalyticGaussian.epsilon(delta: delta, sigma: z / Double(steps).squareRoot()) }
        return SampledGaussianPLD.epsilon(q: q, sigma: z, steps: steps, delta: delta, interval: interval)
    }
}
