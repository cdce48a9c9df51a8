/// Exact samples of the discrete Gaussian N_Z(0, σ²) on the integers, by the samplers of
/// Canonne, Kamath and Steinke ("The Discrete Gaussian for Differential Privacy", NeurIPS 2020,
/// Algorithms 1 to 3), in integer arithmetic only.
///
/// Floating-point Gaussian noise leaks: the set of doubles a textbook sampler can return
/// depends on the value it is added to, which Mironov used to read inputs back (CCS 2012).
/// Here every decision is a Bernoulli trial with a rational probability, drawn as a uniform
/// integer below the denominator, so the output follows N_Z(0, σ²) exactly, with σ² rounded
/// up to a multiple of 1/256 (more noise, never less).
///
/// A discrete Laplace proposal Y with scale t = ⌊σ⌋ + 1 is accepted with probability
/// exp(-(|Y| - σ²/t)² / 2σ²). Proposals beyond about 40σ, whose acceptance probability is
/// below e^-700, are rejected without computing it, so no product can overflow.
public struct DiscreteGaussian: Sendable, Equatable {
    /// The largest σ the integer arithmetic supports.
    public static let maximumSigma = Double(1 << 24)
    static let varianceDenominator: UInt128 = 256

    public let sigma: Double
    /// σ² = varianceNumerator / 256.
    let varianceNumerator: UInt128
    /// t = ⌊σ⌋ + 1, the proposal's scale.
    let scale: UInt128

    /// Fails closed: a σ that is negative, not finite or beyond `maximumSigma` is an error,
    /// never "no noise". σ = 0 adds nothing (a configured noise multiplier of 0).
    public init(sigma: Double) throws(CoreError) {
        guard sigma.isFinite, sigma >= 0, sigma <= Self.maximumSigma else {
            throw .invalidTraining("a discrete Gaussian needs 0 <= sigma <= 2^24, not \(sigma)")
        }
        self.sigma = sigma
        varianceNumerator = UInt128((sigma * sigma * Double(Self.varianceDenominator)).rounded(.up))
        var t = UInt128(sigma.rounded(.down))
        // ⌊σ⌋ from the exact rational σ², in case the double's rounding moved it.
        while (t + 1) * (t + 1) * Self.varianceDenominator <= varianceNumerator { t += 1 }
        while t > 0 && t * t * Self.varianceDenominator > varianceNumerator { t -= 1 }
        scale = t + 1
    }

    /// One exact draw from the discrete Gaussian (integer arithmetic only).
    public func sample(using random: inout some RandomNumberGenerator) -> Int {
        guard varianceNumerator > 0 else { return 0 }
        let d = Self.varianceDenominator
        let n = varianceNumerator
        let t = scale
        // The acceptance exponent is (|Y|·t·d − n)² / (2·t²·d·n); past this |Y| it exceeds 700.
        let limit = 40 * t + 40
        while true {
            let y = Self.discreteLaplace(scale: t, using: &random)
            let magnitude = UInt128(y.magnitude)
            guard magnitude <= limit else { continue }
            let shifted = magnitude * t * d
            let distance = shifted > n ? shifted - n : n - shifted
            let (numerator, overflow) = distance.multipliedReportingOverflow(by: distance)
            guard !overflow else { continue }
            if Self.bernoulliExp(numerator, 2 * t * t * d * n, using: &random) { return y }
        }
    }

    /// Bernoulli(numerator / denominator), for numerator <= denominator.
    static func bernoulli(_ numerator: UInt128, _ denominator: UInt128, using random: inout some RandomNumberGenerator) -> Bool {
        UInt128.random(in: 0..<denominator, using: &random) < numerator
    }

    /// Bernoulli(exp(-γ)) for γ = numerator / denominator >= 0 (CKS Algorithm 1): whole units
    /// of γ one by one, then the fraction by the alternating-series trick.
    static func bernoulliExp(_ numerator: UInt128, _ denominator: UInt128, using random: inout some RandomNumberGenerator) -> Bool {
        let whole = numerator / denominator
        // exp(-2000) is zero for every purpose; drawing it would only take time.
        guard whole < 2000 else { return false }
        for _ in 0..<Int(whole) where !bernoulliExpFraction(1, 1, using: &random) { return false }
        return bernoulliExpFraction(numerator % denominator, denominator, using: &random)
    }

    /// Bernoulli(exp(-γ)) for γ = numerator / denominator in [0, 1]: draw A_k ~ Bernoulli(γ/k)
    /// for k = 1, 2, ... until one is 0; the result is whether that k is odd.
    static func bernoulliExpFraction(_ numerator: UInt128, _ denominator: UInt128, using random: inout some RandomNumberGenerator) -> Bool {
        var k: UInt128 = 1
        while bernoulli(numerator, denominator * k, using: &random) { k += 1 }
        return k % 2 == 1
    }

    /// The discrete Laplace distribution with scale t, P(y) ∝ exp(-|y|/t) (CKS Algorithm 2).
    static func discreteLaplace(scale t: UInt128, using random: inout some RandomNumberGenerator) -> Int {
        while true {
            let u = UInt128.random(in: 0..<t, using: &random)
            guard bernoulliExp(u, t, using: &random) else { continue }
            var v: UInt128 = 0
            while bernoulliExp(1, 1, using: &random) { v += 1 }
            let magnitude = u + t * v
            let negative = bernoulli(1, 2, using: &random)
            if negative && magnitude == 0 { continue }
            // A magnitude past Int's range has probability below exp(-2^62 / 2^24): never.
            let value = Int(clamping: magnitude)
            return negative ? -value : value
        }
    }
}
