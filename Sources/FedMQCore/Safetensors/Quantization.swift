/// Symmetric per-tensor int8 quantization: scale = max|x| / 127, values in [-127, 127].
public enum Quantization {
    /// Rounds to nearest: the error is at most half a step (scale / 2).
    public static func int8(_ values: [Float]) -> (values: [Int8], scale: Float) {
        quantize(values) { $0.rounded(.toNearestOrAwayFromZero) }
    }

    /// Rounds up with probability equal to the fraction, so that E[q * scale] = x.
    public static func int8(_ values: [Float], stochastic random: inout SplitMix64) -> (values: [Int8], scale: Float) {
        quantize(values) { exact in (exact + Float(random.nextUnit())).rounded(.down) }
    }

    private static func quantize(_ values: [Float], _ round: (Float) -> Float) -> (values: [Int8], scale: Float) {
        let peak = values.reduce(Float(0)) { max($0, abs($1)) }
        guard peak > 0, peak.isFinite else { return ([Int8](repeating: 0, count: values.count), 0) }
        let scale = peak / 127
        return (values.map { Int8(max(-127, min(127, round($0 / scale)))) }, scale)
    }
}
