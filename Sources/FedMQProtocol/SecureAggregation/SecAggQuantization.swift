import FedMQCore

/// How a delta becomes integers modulo 2^32 for secure aggregation: each entry clipped to
/// [-clip, clip], multiplied by `scale` and rounded stochastically (so the rounding is
/// unbiased), stored as a two's-complement 32-bit word. The words of a cohort add up without
/// wrapping as long as cohort x clip x scale < 2^31.
public struct SecAggQuantization: Codable, Sendable, Equatable {
    public var clip: Double
    public var scale: Double

    /// Entries clipped to [-clip, clip] and multiplied by `scale`.
    public init(clip: Double, scale: Double) {
        self.clip = clip
        self.scale = scale
    }

    /// For analytics vectors, whose entries lie in [-1, 1], summed over `cohort` agents: clip 1
    /// and a scale of 2^24 / (the cohort rounded up to a power of two), so the sum stays within
    /// 2^24 and leaves the rest of 2^31 to the noise.
    public static func analytics(cohort: Int) -> SecAggQuantization {
        var rounded = 1
        while rounded < cohort && rounded < 1 << 24 { rounded *= 2 }
        return SecAggQuantization(clip: 1, scale: Double(1 << 24) / Double(rounded))
    }

    /// Checks that the sum of `cohort` encoded entries, each with discrete noise of σ
    /// `noiseSigma` (0 without privacy), stays within ±2^31: n·(clip·scale + 1) for the values
    /// and their rounding, plus 12·σ·√n for the noise (exceeded with probability below e^-72
    /// per entry). Beyond that the sum would wrap and the decoded mean would be garbage.
    public func validate(cohort: Int, noiseSigma: Double = 0) throws(ProtocolError) {
        guard clip > 0, clip.isFinite, scale > 0, scale.isFinite else {
            throw .invalidConfiguration("secure aggregation clip and scale must be positive")
        }
        let n = Double(cohort)
        let reach = n * (clip * scale + 1) + 12 * noiseSigma * n.squareRoot()
        guard reach < 0x1p31 else {
            throw .invalidConfiguration(
                "a sum of \(cohort) updates may reach \(reach) (cohort x (clip x scale + 1) + the noise's tail), beyond 2^31: lower scale or clip")
        }
    }

    /// The delta as words modulo 2^32, with stochastic rounding.
    public func encode(_ delta: Parameters, using random: inout some RandomNumberGenerator) -> [UInt32] {
        delta.tensors.flatMap(\.values).map { value in
            let scaled = Double(max(-Float(clip), min(Float(clip), value))) * scale
            let floor = scaled.rounded(.down)
            let rounded = floor + (Double.random(in: 0..<1, using: &random) < scaled - floor ? 1 : 0)
            return UInt32(bitPattern: Int32(max(-0x1p31, min(0x1p31 - 1, rounded))))
        }
    }

    /// The mean of `count` encoded deltas from their word-wise sum, shaped like `model`.
    public func decodeMean(_ sum: [UInt32], count: Int, like model: Parameters) throws(ProtocolError) -> Parameters {
        guard sum.count == model.count, count > 0 else {
            throw .secureAggregation("a sum of \(sum.count) words does not fit a model of \(model.count) parameters")
        }
        do {
            return try model.reshaped(sum.map { Float(Double(Int32(bitPattern: $0)) / scale / Double(count)) })
        } catch {
            throw .core(error)
        }
    }
}
