import FedMQCore

/// Top-k sparsification with error feedback (Stich et al., NeurIPS 2018; Karimireddy et al.,
/// ICML 2019): each round the agent adds what it held back before to its new delta, sends the
/// largest entries of the sum, and holds back the rest. Nothing is lost, only delayed, which is
/// why accuracy survives sending a few percent of the entries.
///
/// What is held back is measured on the encoded bytes, so it also carries the part scaled away
/// to respect the round's norm bound and the rounding of float16 or int8.
public struct ErrorFeedback: Sendable, Equatable {
    /// Share of each tensor's entries sent, in (0, 1].
    public let fraction: Double
    /// The entries not yet delivered; nil before the first round.
    public private(set) var residual: Parameters?

    /// Top-k with this fraction of each tensor sent, and what earlier rounds held back.
    public init(fraction: Double, residual: Parameters? = nil) throws(ProtocolError) {
        guard fraction > 0, fraction <= 1 else { throw .invalidConfiguration("top-k fraction must be in (0, 1], not \(fraction)") }
        self.fraction = fraction
        self.residual = residual
    }

    /// The payload for `delta`: the top-k of delta + residual, scaled to at most `bound` in L2
    /// norm, encoded by `encode`. The residual becomes delta + residual minus what the payload
    /// decodes to.
    public mutating func compress(
        _ delta: Parameters, bound: Double?, encode: (SparseParameters) -> [UInt8]
    ) throws(ProtocolError) -> [UInt8] {
        var total = delta
        do throws(CoreError) {
            if let residual, (try? residual.checkCompatible(with: delta)) != nil { try total.add(residual) }
            var kept = total.topK(fraction: fraction)
            if let bound { kept.clip(norm: bound) }
            let payload = encode(kept)
            let delivered = try ModelCodec.delta(of: try SafetensorsDecoder.decode(payload), like: delta)
            try total.subtract(delivered)
            residual = total
            return payload
        } catch {
            throw .core(error)
        }
    }
}
