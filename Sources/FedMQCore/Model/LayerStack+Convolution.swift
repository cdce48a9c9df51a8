/// 1D convolution as matrix products: the input unfolded into one row per output position
/// (channels x kernel values each), times the filters.
extension LayerStack {
    /// y[r, f, t] = b[f] + Σ_c Σ_k W[f, c, k] · x[r, c, t·stride + k − padding] (zero outside the input).
    mutating func convolve(
        _ index: Int, _ parameters: Parameters, _ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>, rows: Int,
        filters: Int, kernel: Int, stride: Int, padding: Int
    ) {
        guard let weight = weightIndex[index] else { return }
        let (channels, length, steps) = (shapes[index].channels, shapes[index].length, shapes[index + 1].length)
        let width = channels * kernel
        if saved[index].count < rows * steps * width { saved[index] = [Float](repeating: 0, count: rows * steps * width) }
        if scratch.count < rows * steps * filters { scratch = [Float](repeating: 0, count: rows * steps * filters) }
        saved[index].withUnsafeMutableBufferPointer { unfolded in
            for row in 0..<rows {
                for step in 0..<steps {
                    let base = (row * steps + step) * width
                    for channel in 0..<channels {
                        let source = (row * channels + channel) * length
                        for offset in 0..<kernel {
                            let position = step * stride + offset - padding
                            unfolded[base + channel * kernel + offset] = position >= 0 && position < length ? x[source + position] : 0
                        }
                    }
                }
            }
            scratch.withUnsafeMutableBufferPointer { products in
                parameters.tensors[weight].values.withUnsafeBufferPointer { w in
                    Matrix.gemm(
                        unfolded.baseAddress!, w.baseAddress!, products.baseAddress!, m: rows * steps, n: filters, k: width, transposeB: true)
                }
                parameters.tensors[weight + 1].values.withUnsafeBufferPointer { bias in
                    for row in 0..<rows {
                        for filter in 0..<filters {
                            for step in 0..<steps {
                                y[(row * filters + filter) * steps + step] = products[(row * steps + step) * filters + filter] + bias[filter]
                            }
                        }
                    }
                }
            }
        }
    }

    /// The filters' and biases' gradients from dOut, and (with `needInput`) dIn, folding the
    /// unfolded input's gradient back onto the positions it came from.
    mutating func convolveBackward(
        _ index: Int, _ parameters: Parameters, _ dOut: UnsafeBufferPointer<Float>, _ dIn: UnsafeMutableBufferPointer<Float>, rows: Int,
        filters: Int, kernel: Int, stride: Int, padding: Int, gradient: inout Parameters, needInput: Bool
    ) {
        guard let weight = weightIndex[index] else { return }
        let (channels, length, steps) = (shapes[index].channels, shapes[index].length, shapes[index + 1].length)
        let width = channels * kernel
        scratch.withUnsafeMutableBufferPointer { dProducts in
            for row in 0..<rows {
                for filter in 0..<filters {
                    for step in 0..<steps {
                        dProducts[(row * steps + step) * filters + filter] = dOut[(row * filters + filter) * steps + step]
                    }
                }
            }
            saved[index].withUnsafeMutableBufferPointer { unfolded in
                gradient.withValues(at: weight) { dW in
                    dW.withUnsafeMutableBufferPointer { dW in
                        Matrix.gemm(
                            dProducts.baseAddress!, unfolded.baseAddress!, dW.baseAddress!, m: filters, n: width, k: rows * steps, transposeA: true)
                    }
                }
                gradient.withValues(at: weight + 1) { db in
                    for filter in 0..<filters { db[filter] = 0 }
                    for position in 0..<(rows * steps) {
                        for filter in 0..<filters { db[filter] += dProducts[position * filters + filter] }
                    }
                }
                guard needInput else { return }
                // The unfolded input is not needed any more: its buffer takes its gradient.
                parameters.tensors[weight].values.withUnsafeBufferPointer { w in
                    Matrix.gemm(dProducts.baseAddress!, w.baseAddress!, unfolded.baseAddress!, m: rows * steps, n: width, k: filters)
                }
                for i in 0..<(rows * channels * length) { dIn[i] = 0 }
                for row in 0..<rows {
                    for step in 0..<steps {
                        let base = (row * steps + step) * width
                        for channel in 0..<channels {
                            let target = (row * channels + channel) * length
                            for offset in 0..<kernel {
                                let position = step * stride + offset - padding
                                if position >= 0 && position < length { dIn[target + position] += unfolded[base + channel * kernel + offset] }
                            }
                        }
                    }
                }
            }
        }
    }
}
