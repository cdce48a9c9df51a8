/// Group normalization (and layer normalization, its one-group case), per example: no batch
/// statistics, so an example's output does not depend on the others in its batch.
extension LayerStack {
    /// Per example and group of channels: x̂ = (x − mean) / √(var + ε) over the group's values,
    /// y = γ[c] · x̂ + β[c]. Keeps x̂ and 1/√(var + ε) for the backward pass.
    mutating func normalize(
        _ index: Int, _ parameters: Parameters, _ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>, rows: Int, groups: Int
    ) {
        guard let weight = weightIndex[index] else { return }
        let shape = shapes[index]
        let perGroup = shape.channels / groups
        let values = perGroup * shape.length
        if saved[index].count < rows * shape.size { saved[index] = [Float](repeating: 0, count: rows * shape.size) }
        if inverseDeviations[index].count < rows * groups { inverseDeviations[index] = [Float](repeating: 0, count: rows * groups) }
        saved[index].withUnsafeMutableBufferPointer { normalized in
            inverseDeviations[index].withUnsafeMutableBufferPointer { inverse in
                parameters.tensors[weight].values.withUnsafeBufferPointer { gamma in
                    parameters.tensors[weight + 1].values.withUnsafeBufferPointer { beta in
                        for row in 0..<rows {
                            for group in 0..<groups {
                                // The group's channels are adjacent in a channel-major row.
                                let start = row * shape.size + group * values
                                var mean: Float = 0
                                for i in start..<(start + values) { mean += x[i] }
                                mean /= Float(values)
                                var variance: Float = 0
                                for i in start..<(start + values) { variance += (x[i] - mean) * (x[i] - mean) }
                                let scale = 1 / (variance / Float(values) + Self.normalizationEpsilon).squareRoot()
                                inverse[row * groups + group] = scale
                                for i in start..<(start + values) {
                                    let channel = group * perGroup + (i - start) / shape.length
                                    normalized[i] = (x[i] - mean) * scale
                                    y[i] = gamma[channel] * normalized[i] + beta[channel]
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// dγ[c] = Σ dy · x̂, dβ[c] = Σ dy over examples and time; per group,
    /// dx = (1/σ) · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)) with dx̂ = dy · γ[c].
    mutating func normalizeBackward(
        _ index: Int, _ parameters: Parameters, _ dOut: UnsafeBufferPointer<Float>, _ dIn: UnsafeMutableBufferPointer<Float>, rows: Int,
        groups: Int, gradient: inout Parameters
    ) {
        guard let weight = weightIndex[index] else { return }
        let shape = shapes[index]
        let perGroup = shape.channels / groups
        let values = perGroup * shape.length
        saved[index].withUnsafeBufferPointer { normalized in
            var dGamma = [Float](repeating: 0, count: shape.channels)
            var dBeta = [Float](repeating: 0, count: shape.channels)
            for row in 0..<rows {
                for i in 0..<shape.size {
                    let channel = i / shape.length
                    dGamma[channel] += dOut[row * shape.size + i] * normalized[row * shape.size + i]
                    dBeta[channel] += dOut[row * shape.size + i]
                }
            }
            gradient.withValues(at: weight) { $0 = dGamma }
            gradient.withValues(at: weight + 1) { $0 = dBeta }
            inverseDeviations[index].withUnsafeBufferPointer { inverse in
                parameters.tensors[weight].values.withUnsafeBufferPointer { gamma in
                    for row in 0..<rows {
                        for group in 0..<groups {
                            let start = row * shape.size + group * values
                            var meanGradient: Float = 0
                            var meanProduct: Float = 0
                            for i in start..<(start + values) {
                                let dNormalized = dOut[i] * gamma[group * perGroup + (i - start) / shape.length]
                                meanGradient += dNormalized
                                meanProduct += dNormalized * normalized[i]
                            }
                            meanGradient /= Float(values)
                            meanProduct /= Float(values)
                            let scale = inverse[row * groups + group]
                            for i in start..<(start + values) {
                                let dNormalized = dOut[i] * gamma[group * perGroup + (i - start) / shape.length]
                                dIn[i] = scale * (dNormalized - meanGradient - normalized[i] * meanProduct)
                            }
                        }
                    }
                }
            }
        }
    }
}
