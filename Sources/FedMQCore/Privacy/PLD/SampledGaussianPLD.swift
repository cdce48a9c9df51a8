import FoundationEssentials
import Glibc

/// The privacy loss distributions of the Poisson-subsampled Gaussian mechanism (sampling
/// probability q, noise multiplier σ, sensitivity 1) under add-or-remove-one neighbours, both
/// directions, as dp-accounting builds them: removal compares (1−q)N(0,σ²) + qN(1,σ²) against
/// N(0,σ²), addition the reverse; epsilon is the larger of the two.
enum SampledGaussianPLD {
    /// How far into each tail the loss range reaches (standard deviations): the mass beyond is
    /// below e^-50, dp-accounting's `log_mass_truncation_bound`.
    static let tailDeviations = 10.0

    /// Epsilon at `delta` after `steps` compositions, on a loss grid of `interval`.
    static func epsilon(q: Double, sigma: Double, steps: Int, delta: Double, interval: Double) -> Double {
        let remove = PrivacyLossPMF.connectingDots(
            interval: interval, lowLoss: removeLoss(-tailDeviations * sigma, q: q, sigma: sigma),
            highLoss: removeLoss(1 + tailDeviations * sigma, q: q, sigma: sigma)
        ) { removeDelta($0, q: q, sigma: sigma) }
        let add = PrivacyLossPMF.connectingDots(
            interval: interval, lowLoss: addLoss(1 + tailDeviations * sigma, q: q, sigma: sigma),
            highLoss: addLoss(-tailDeviations * sigma, q: q, sigma: sigma)
        ) { addDelta($0, q: q, sigma: sigma) }
        return max(remove.selfComposed(steps).epsilon(delta: delta), add.selfComposed(steps).epsilon(delta: delta))
    }

    /// log((1−q) + q·e^{(2x−1)/(2σ²)}), in logs for large x.
    static func logMixtureRatio(_ x: Double, q: Double, sigma: Double) -> Double {
        RDPMath.logAdd(log1p(-q), log(q) + (2 * x - 1) / (2 * sigma * sigma))
    }

    static func removeLoss(_ x: Double, q: Double, sigma: Double) -> Double { logMixtureRatio(x, q: q, sigma: sigma) }
    static func addLoss(_ x: Double, q: Double, sigma: Double) -> Double { -logMixtureRatio(x, q: q, sigma: sigma) }

    /// Φc(x/σ) = P(N(0,σ²) > x).
    static func upperTail(_ x: Double, _ sigma: Double) -> Double { erfc(x / (sigma * 2.0.squareRoot())) / 2 }

    /// δ(ε) for removal: P(L > ε) − e^ε Q(L > ε), L increasing in x.
    static func removeDelta(_ epsilon: Double, q: Double, sigma: Double) -> Double {
        let rest = exp(epsilon) - (1 - q)
        guard rest > 0 else { return -expm1(epsilon) }
        let x = sigma * sigma * log(rest / q) + 0.5
        return max(0, q * upperTail(x - 1, sigma) - rest * upperTail(x, sigma))
    }

    /// δ(ε) for addition: P(L > ε) − e^ε Q(L > ε), L decreasing in x; 0 above −log(1−q).
    static func addDelta(_ epsilon: Double, q: Double, sigma: Double) -> Double {
        let rest = exp(-epsilon) - (1 - q)
        guard rest > 0 else { return 0 }
        let x = sigma * sigma * log(rest / q) + 0.5
        let below = upperTail(-x, sigma)  // P(N(0,σ²) < x), exact in the lower tail
        let belowShifted = upperTail(1 - x, sigma)
        return max(0, below - exp(epsilon) * ((1 - q) * below + q * belowShifted))
    }
}
