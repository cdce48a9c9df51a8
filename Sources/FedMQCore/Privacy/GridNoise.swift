/// Client-level differential-privacy noise drawn exactly, on a grid: values are scaled so that
/// the clip norm C spans 2^16 grid steps, rounded stochastically to integers, given discrete
/// Gaussian noise (`DiscreteGaussian`, integer arithmetic only) and scaled back.
///
/// One agent's rounded update has L2 norm at most Δ = C·scale + √d in grid steps (rounding
/// moves each of the d entries by less than one step), so noise with σ = z·Δ gives noise
/// multiplier z; the discrete Gaussian's Rényi DP is the continuous one's at the same σ and
/// sensitivity (Canonne, Kamath and Steinke 2020, Theorem 14). The rounding's randomness is
/// not the privacy noise, and the scaled-back values are post-processing of exact integers.
public enum GridNoise {
    /// Grid steps per unit for clip norm C.
    public static func scale(clipNorm: Double) -> Double { 65536 / clipNorm }

    /// Δ in grid steps for d entries.
    public static func sensitivity(clipNorm: Double, dimension: Int) -> Double {
        clipNorm * scale(clipNorm: clipNorm) + Double(dimension).squareRoot()
    }

    /// The noise's standard deviation in the parameters' units.
    public static func std(multiplier: Double, clipNorm: Double, dimension: Int, magnify: Double = 1) -> Double {
        multiplier * sensitivity(clipNorm: clipNorm, dimension: dimension) / scale(clipNorm: clipNorm) / magnify
    }

    /// Adds noise with multiplier z to `parameters` seen `magnify` times larger (the aggregator
    /// noises a sum of n updates through their mean: magnify n). Throws for a multiplier that
    /// is not finite, or a σ beyond the sampler's range: noise fails closed.
    public static func add(
        to parameters: inout Parameters, multiplier: Double, clipNorm: Double, magnify: Double = 1,
        using random: inout some RandomNumberGenerator
    ) throws(CoreError) {
        guard multiplier.isFinite, multiplier >= 0, clipNorm > 0, clipNorm.isFinite, magnify >= 1, magnify.isFinite else {
            throw .invalidTraining("noise multiplier \(multiplier), clip norm \(clipNorm) or scale \(magnify) is not usable for noise")
        }
        guard multiplier > 0 else { return }
        let steps = scale(clipNorm: clipNorm) * magnify
        let sampler = try DiscreteGaussian(sigma: multiplier * sensitivity(clipNorm: clipNorm, dimension: parameters.count))
        var failure: CoreError?
        for index in parameters.tensors.indices {
            parameters.withValues(at: index) { values in
                for i in values.indices {
                    let scaled = Double(values[i]) * steps
                    guard scaled.magnitude < 0x1p60 else {
                        failure = .invalidTraining("a value of \(values[i]) does not fit the noise grid")
                        return
                    }
                    let floor = scaled.rounded(.down)
                    let step = Int(floor) + (Double.random(in: 0..<1, using: &random) < scaled - floor ? 1 : 0)
                    values[i] = Float(Double(step &+ sampler.sample(using: &random)) / steps)
                }
            }
        }
        if let failure { throw failure }
    }
}
