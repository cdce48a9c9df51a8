import FedMQCore
import Foundation
import Testing

/// One Poisson-subsampled Gaussian reference case, as the parameterized test takes it.
struct SampledGaussianCase: Sendable, CustomTestStringConvertible {
    var id: String
    var q: Double
    var z: Double
    var steps: Int
    var delta: Double
    var pld: Double
    var rdp: Double
    var testDescription: String { id }

    static let all: [SampledGaussianCase] = {
        guard let vectors = try? DPVectors.load() else { return [] }
        return vectors.cases.filter { $0.kind == "poisson_subsampled_gaussian" }.compactMap { item in
            guard let pld = item.value("pld_epsilon"), let rdp = item.value("rdp_epsilon") else { return nil }
            return SampledGaussianCase(
                id: item.id, q: item.input("sampling_probability"), z: item.input("noise_multiplier"), steps: Int(item.input("steps")),
                delta: item.input("delta"), pld: pld, rdp: rdp)
        }
    }()
}

@Suite("PLD accountant against dp-accounting's reference vectors")
struct PLDAccountantTests {
    @Test("all 16 Poisson-subsampled Gaussian cases are in the fixture")
    func cases() {
        #expect(SampledGaussianCase.all.count >= 16)
    }

    /// The cases one at a time, each on a thread of its own: together they are a minute of a
    /// core in a debug build, which must not hold the cooperative pool the other tests share.
    @Test(
        "Poisson-subsampled Gaussian: epsilon within 1e-3 of dp-accounting's PLD accountant, and below RDP", .serialized,
        arguments: SampledGaussianCase.all)
    func subsampled(_ item: SampledGaussianCase) async throws {
        let epsilon = try await onOwnThread {
            try PLDAccountant.epsilon(samplingProbability: item.q, noiseMultiplier: item.z, steps: item.steps, delta: item.delta)
        }
        #expect(abs(epsilon - item.pld) <= 1e-3 * item.pld, "\(epsilon) vs PLD \(item.pld)")
        #expect(epsilon <= item.rdp)
    }

    @Test("no sampling is the exact Gaussian; nothing run costs nothing; no noise costs everything; bad input is refused by name")
    func edges() throws {
        #expect(
            try PLDAccountant.epsilon(samplingProbability: 1, noiseMultiplier: 1, steps: 10, delta: 1e-5)
                == AnalyticGaussian.epsilon(delta: 1e-5, sigma: 1 / 10.0.squareRoot()))
        #expect(try PLDAccountant.epsilon(samplingProbability: 0.01, noiseMultiplier: 1, steps: 0, delta: 1e-5) == 0)
        #expect(try PLDAccountant.epsilon(samplingProbability: 0.01, noiseMultiplier: 0, steps: 5, delta: 1e-5) == .infinity)
        #expect(throws: CoreError.self) { try PLDAccountant.epsilon(samplingProbability: 1.5, noiseMultiplier: 1, steps: 5, delta: 1e-5) }
    }
}
