import FedMQCore
import Testing

@Suite("Client-level DP on updates")
struct ClientPrivacyTests {
    func zeros(_ count: Int) throws -> Parameters {
        try Parameters([Tensor(name: "x", shape: [count], values: .init(repeating: 0, count: count))])
    }

    func std(_ values: [Float]) -> Double {
        let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
        return (values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(values.count - 1)).squareRoot()
    }

    @Test("added noise has std z·C (local) and z·C/√m (distributed) within 3% over 100,000 draws", arguments: ClientPrivacy.Mode.allCases)
    func noiseStd(mode: ClientPrivacy.Mode) throws {
        let privacy = ClientPrivacy(mode: mode, clipNorm: 2, noiseMultiplier: 1.5, expectedCohort: 9)
        var delta = try zeros(100_000)
        var random = SystemRandomNumberGenerator()
        try privacy.privatize(&delta, using: &random)
        let expected = mode == .local ? 3.0 : mode == .distributed ? 1.0 : 0.0
        if expected == 0 {
            #expect(delta.l2Norm == 0)
        } else {
            #expect(abs(std(delta.tensors[0].values) / expected - 1) < 0.03)
        }
    }

    @Test("central mode: the aggregator's noise on the mean of n updates has std z·C/n within 3%")
    func aggregatorNoise() throws {
        let privacy = ClientPrivacy(mode: .central, clipNorm: 2, noiseMultiplier: 1.5)
        var mean = try zeros(100_000)
        var random = SystemRandomNumberGenerator()
        try privacy.addAggregatorNoise(to: &mean, updates: 10, using: &random)
        #expect(abs(std(mean.tensors[0].values) / 0.3 - 1) < 0.03)
    }

    @Test("noise fails closed: a multiplier or standard deviation that is not finite is an error, never no noise")
    func failsClosed() throws {
        var delta = try zeros(10)
        var random = SplitMix64(seed: 1)
        #expect(throws: CoreError.self) { try GridNoise.add(to: &delta, multiplier: .nan, clipNorm: 1, using: &random) }
        #expect(throws: CoreError.self) { try GridNoise.add(to: &delta, multiplier: .infinity, clipNorm: 1, using: &random) }
        #expect(throws: CoreError.self) { try GaussianNoise.add(to: &delta, std: .nan, using: &random) }
        #expect(throws: CoreError.self) { try DiscreteGaussian(sigma: .infinity) }
        #expect(throws: CoreError.self) { try DiscreteGaussian(sigma: 1e300) }
        #expect(throws: CoreError.self) { try DiscreteGaussian(sigma: -1) }
    }

    @Test("clipping leaves norms at most C and keeps small deltas as they are")
    func clipping() throws {
        let privacy = ClientPrivacy(mode: .central, clipNorm: 1, noiseMultiplier: 1)
        var random = SplitMix64(seed: 1)
        for scale in [0.1, 0.9, 3.0, 1000.0] {
            var delta = try Parameters([Tensor(name: "x", shape: [50], values: (0..<50).map { _ in Float(random.nextGaussian() * scale) })])
            let original = delta
            let before = try privacy.privatize(&delta, using: &random)
            #expect(delta.l2Norm <= 1 + 1e-6)
            if before <= 1 { #expect(delta == original) }
        }
    }

    @Test("the published model's multiplier and the per-update multiplier per mode")
    func multipliers() {
        let z = 1.0
        #expect(ClientPrivacy(mode: .central, clipNorm: 1, noiseMultiplier: z).publishedModelMultiplier(updates: 10) == z)
        #expect(ClientPrivacy(mode: .central, clipNorm: 1, noiseMultiplier: z).perUpdateMultiplier == nil)
        let distributed = ClientPrivacy(mode: .distributed, clipNorm: 1, noiseMultiplier: z, expectedCohort: 10)
        #expect(abs(distributed.publishedModelMultiplier(updates: 10) - z) < 1e-12)
        #expect(abs(distributed.perUpdateMultiplier! - z / 10.0.squareRoot()) < 1e-12)
        let local = ClientPrivacy(mode: .local, clipNorm: 1, noiseMultiplier: z)
        #expect(abs(local.publishedModelMultiplier(updates: 4) - 2 * z) < 1e-12)
        // The grid adds √d steps of rounding to the sensitivity: the noise is z·(C + √d/scale).
        #expect(abs(local.agentNoiseStd(dimension: 10_000) - z * (1 + 100.0 / 65536)) < 1e-12)
        #expect(throws: CoreError.self) { try ClientPrivacy(mode: .local, clipNorm: 0, noiseMultiplier: 1).validate() }
    }
}
