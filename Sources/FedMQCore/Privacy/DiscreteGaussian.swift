import Foundation

/// Samples of the discrete Gaussian N_Z(0, σ²) on the integers, by the rejection sampler of
/// Canonne, Kamath and Steinke ("The Discrete Gaussian for Differential Privacy", NeurIPS
/// 2020, Algorithm 3): a discrete Laplace proposal with scale t = ⌊σ⌋ + 1, accepted with
/// probability exp(-(|Y| - σ²/t)² / 2σ²). Bernoulli(exp(-x)) trials use floating point.
public enum DiscreteGaussian {
    public static func sample(sigma: Double, using random: inout some RandomNumberGenerator) -> Int {
        guard sigma > 0, sigma.isFinite else { return 0 }
        let t = sigma.rounded(.down) + 1
        let scale = Int(t)
        while true {
            // Discrete Laplace with scale t: U uniform below t, kept with probability exp(-U/t),
            // plus t times a geometric count of exp(-1) successes.
            let u = Int.random(in: 0..<scale, using: &random)
            guard bernoulliExp(Double(u) / t, using: &random) else { continue }
            var v = 0
            while bernoulliExp(1, using: &random) { v += 1 }
            let magnitude = u + scale * v
            let negative = Bool.random(using: &random)
            if negative && magnitude == 0 { continue }
            let distance = Double(magnitude) - sigma * sigma / t
            if bernoulliExp(distance * distance / (2 * sigma * sigma), using: &random) { return negative ? -magnitude : magnitude }
        }
    }

    private static func bernoulliExp(_ x: Double, using random: inout some RandomNumberGenerator) -> Bool {
        Double.random(in: 0..<1, using: &random) < exp(-x)
    }
}
