import Foundation
import Testing

@testable import FedMQCore

/// The exact discrete Gaussian sampler against the exact probabilities.
@Suite("Discrete Gaussian sampler")
struct DiscreteGaussianTests {
    /// P(x) = exp(-x²/2σ²) / Σ_y exp(-y²/2σ²), summed far into the tails.
    func probabilities(sigma: Double, within range: ClosedRange<Int>) -> [Int: Double] {
        let tail = Int(40 * sigma) + 40
        let weights = (-tail...tail).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = weights.reduce(0, +)
        return Dictionary(uniqueKeysWithValues: range.map { ($0, exp(-Double($0 * $0) / (2 * sigma * sigma)) / total) })
    }

    @Test("samples follow the exact probabilities: chi-square over the central values and one bin for the tails", arguments: [0.5, 1.5, 4.0])
    func matchesExactProbabilities(sigma: Double) throws {
        let sampler = try DiscreteGaussian(sigma: sigma)
        var random = SplitMix64(seed: 17)
        let draws = 60_000
        var counts: [Int: Int] = [:]
        for _ in 0..<draws { counts[sampler.sample(using: &random), default: 0] += 1 }
        let reach = Int(3 * sigma) + 1
        let exact = probabilities(sigma: sigma, within: -reach...reach)
        var chiSquare = 0.0
        var inside = 0
        for (value, probability) in exact {
            let expected = probability * Double(draws)
            let observed = Double(counts[value, default: 0])
            inside += counts[value, default: 0]
            chiSquare += (observed - expected) * (observed - expected) / expected
        }
        let tailExpected = (1 - exact.values.reduce(0, +)) * Double(draws)
        let tailObserved = Double(draws - inside)
        if tailExpected > 5 { chiSquare += (tailObserved - tailExpected) * (tailObserved - tailExpected) / tailExpected }
        // Degrees of freedom: the bins minus one; the 0.999 quantile is below df + 4.4·√(2·df) + 7 for these sizes.
        let df = Double(exact.count - (tailExpected > 5 ? 0 : 1))
        #expect(chiSquare < df + 4.4 * (2 * df).squareRoot() + 7, "sigma \(sigma): chi-square \(chiSquare) over \(df) degrees of freedom")
    }

    @Test("variance is sigma^2 for a large sigma, where the grid noise lives", arguments: [100.0, 65536.0])
    func largeSigma(sigma: Double) throws {
        let sampler = try DiscreteGaussian(sigma: sigma)
        var random = SplitMix64(seed: 3)
        let samples = (0..<20_000).map { _ in Double(sampler.sample(using: &random)) }
        let mean = samples.reduce(0, +) / Double(samples.count)
        let variance = samples.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(samples.count)
        #expect(abs(mean) < 0.05 * sigma)
        #expect(abs(variance / (sigma * sigma) - 1) < 0.05, "variance \(variance)")
    }

    @Test("Bernoulli(exp(-n/d)) trials in integer arithmetic hit their probability", arguments: [(1, 3), (5, 2), (7, 1)])
    func bernoulliExp(numerator: Int, denominator: Int) {
        var random = SplitMix64(seed: 5)
        let trials = 100_000
        let hits = (0..<trials).filter { _ in DiscreteGaussian.bernoulliExp(UInt128(numerator), UInt128(denominator), using: &random) }.count
        let p = exp(-Double(numerator) / Double(denominator))
        // Four standard deviations of a binomial count.
        #expect(abs(Double(hits) - p * Double(trials)) < 4 * (p * (1 - p) * Double(trials)).squareRoot() + 1)
    }
}
