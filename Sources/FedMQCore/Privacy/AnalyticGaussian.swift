import FoundationEssentials
import Glibc

/// The exact privacy of the Gaussian mechanism (Balle and Wang, ICML 2018): with noise
/// multiplier σ (noise std over sensitivity), δ(ε) = Φ(1/(2σ) − εσ) − e^ε Φ(−1/(2σ) − εσ). T
/// compositions of multipliers z_i are one Gaussian mechanism with 1/σ² = Σ 1/z_i², so this is
/// also the exact epsilon of any composition of Gaussian mechanisms: what dp-accounting's PLD
/// accountant approximates for them (to its discretization), and tighter than any RDP bound.
public enum AnalyticGaussian {
    /// δ at `epsilon` for multiplier `sigma`, computed in logs so that it stays exact where both
    /// terms are far below Double's range (ε in the thousands).
    public static func delta(epsilon: Double, sigma: Double) -> Double {
        guard sigma > 0 else { return 1 }
        guard sigma.isFinite else { return 0 }
        let a = logPhi(1 / (2 * sigma) - epsilon * sigma)
        let b = epsilon + logPhi(-1 / (2 * sigma) - epsilon * sigma)
        guard a > b else { return 0 }
        return exp(a) * -expm1(b - a)
    }

    /// The smallest epsilon >= 0 with δ(ε) <= `delta` (infinity without noise).
    public static func epsilon(delta target: Double, sigma: Double) -> Double {
        guard sigma > 0, target > 0 else { return .infinity }
        guard sigma.isFinite, delta(epsilon: 0, sigma: sigma) > target else { return 0 }
        var (low, high) = (0.0, 1.0)
        while delta(epsilon: high, sigma: sigma) > target {
            low = high
            high *= 2
            if high > 1e9 { return .infinity }
        }
        for _ in 0..<200 where high - low > 1e-12 * high {
            let middle = (low + high) / 2
            if delta(epsilon: middle, sigma: sigma) > target { low = middle } else { high = middle }
        }
        return high
    }

    /// The smallest multiplier σ whose one release is (`epsilon`, `delta`)-DP (δ(ε) falls as σ
    /// grows), to a relative 1e-9: how much noise an answer needs for a privacy target.
    public static func sigma(epsilon: Double, delta target: Double) throws(CoreError) -> Double {
        guard epsilon > 0, epsilon.isFinite, epsilon <= 1000, target > 0, target < 1 else {
            throw .invalidTraining("a privacy target needs 0 < epsilon <= 1000 and 0 < delta < 1")
        }
        var (low, high) = (0.0, 1.0)
        while delta(epsilon: epsilon, sigma: high) > target { (low, high) = (high, high * 2) }
        while high - low > 1e-9 * high {
            let middle = (low + high) / 2
            if delta(epsilon: epsilon, sigma: middle) > target { low = middle } else { high = middle }
        }
        return high
    }

    /// log Φ(x), accurate far into the lower tail.
    static func logPhi(_ x: Double) -> Double {
        RDPMath.logErfc(-x / 2.0.squareRoot()) - log(2.0)
    }
}
