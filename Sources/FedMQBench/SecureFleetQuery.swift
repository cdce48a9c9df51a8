import FedMQCore
import FedMQProtocol

/// One analytics query answered by a fleet under secure aggregation with distributed,
/// record-level differential privacy, with the code an agent and the aggregator run: each
/// agent's `LocalStatistics` vector clipped to C, quantized, given its discrete Gaussian share
/// of the noise (`SecAggNoise`), the words summed modulo 2^32 and decoded. Secure
/// aggregation's masks cancel exactly in that sum (its tests check it bit for bit), so the
/// masks themselves are left out here.
struct SecureFleetQuery {
    let settings: AnalyticsSettings
    let privacy: ClientPrivacy
    let secure: SecureAggregationSettings
    /// Each agent's vector, before clipping.
    let vectors: [Parameters]

    /// `query` over `parts` (one data set per agent) at (`epsilon`, `delta`): the noise
    /// multiplier is the analytic Gaussian's for one release, with no dropout or corruption
    /// margin, so the published answer's epsilon is exactly `epsilon`.
    init(_ query: AnalyticsQuery, parts: [Dataset], epsilon: Double, delta: Double) throws {
        let settings = AnalyticsSettings(queries: [query], maxRecords: parts.map(\.count).max() ?? 1, level: .record)
        self.settings = settings
        privacy = ClientPrivacy(
            mode: .distributed, clipNorm: settings.sensitivity, noiseMultiplier: try AnalyticGaussian.sigma(epsilon: epsilon, delta: delta),
            expectedCohort: parts.count, delta: delta)
        secure = SecureAggregationSettings(dropoutRate: 0, corruptionRate: 0, quantization: .analytics(cohort: parts.count))
        let spec = ModelSpec.statistics(settings)
        vectors = try parts.map { part in
            try spec.initialParameters(seed: 0).reshaped(try LocalStatistics.compute(settings, over: part).vector)
        }
    }

    /// One noisy answer.
    func answer(using random: inout some RandomNumberGenerator) throws -> AnalyticsAnswer {
        var sum = [UInt32](repeating: 0, count: settings.layout.count)
        for vector in vectors {
            var clipped = vector
            clipped.clip(norm: settings.contributionBound)
            var words = secure.quantization.encode(clipped, using: &random)
            try SecAggNoise.add(to: &words, privacy, secure, using: &random)
            for index in sum.indices { sum[index] &+= words[index] }
        }
        let mean = try secure.quantization.decodeMean(sum, count: vectors.count, like: vectors[0])
        let sums = mean.tensors.flatMap(\.values).map { Double($0) * Double(vectors.count) }
        return try AnalyticsAnswer.answers(settings, sums: sums)[0]
    }

    /// The published answer's epsilon, from the noise the agents' shares add up to.
    var epsilon: Double {
        let multiplier = SecAggNoise.publishedMultiplier(
            privacy, secure, dimension: settings.layout.count, survivors: vectors.count, cohort: vectors.count)
        return AnalyticGaussian.epsilon(delta: privacy.delta, sigma: multiplier)
    }
}
