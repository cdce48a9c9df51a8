import FoundationEssentials
import Glibc

/// Each layer's forward and backward computation. Convolutions unfold their input (im2col) so
/// that both passes are matrix products through OpenBLAS, like dense layers.
extension LayerStack {
    /// PyTorch's default epsilon for group and layer normalization.
    static let normalizationEpsilon: Float = 1e-5
    static let inverseSquareRootOfTwo: Float = 1 / Float(2).squareRoot()
    static let inverseSquareRootOfTwoPi: Float = 1 / (2 * Float.pi).squareRoot()

    mutating func forwardLayer(
        _ index: Int, _ parameters: Parameters, input x: UnsafeBufferPointer<Float>, output y: UnsafeMutableBufferPointer<Float>, rows: Int,
        training: Bool
    ) {
        let (shape, next) = (shapes[index], shapes[index + 1])
        let count = rows * next.size
        switch layers[index] {
        case .conv1d(let filters, let kernel, let stride, let padding):
            convolve(index, parameters, x, y, rows: rows, filters: filters, kernel: kernel, stride: stride, padding: padding)
        case .maxPool(let size, let stride):
            if positions[index].count < count { positions[index] = [Int](repeating: 0, count: count) }
            positions[index].withUnsafeMutableBufferPointer { chosen in
                for row in 0..<rows {
                    for channel in 0..<shape.channels {
                        let base = (row * shape.channels + channel) * shape.length
                        for step in 0..<next.length {
                            var best = base + step * stride
                            for position in best..<(best + size) where x[position] > x[best] { best = position }
                            let out = (row * next.channels + channel) * next.length + step
                            y[out] = x[best]
                            chosen[out] = best
                        }
                    }
                }
            }
        case .globalAveragePool:
            for pooled in 0..<count {
                var sum: Float = 0
                for position in (pooled * shape.length)..<((pooled + 1) * shape.length) { sum += x[position] }
                y[pooled] = sum / Float(shape.length)
            }
        case .flatten:
            for i in 0..<count { y[i] = x[i] }
        case .dense(let units):
            guard let weight = weightIndex[index] else { return }
            parameters.tensors[weight + 1].values.withUnsafeBufferPointer { bias in
                for row in 0..<rows {
                    for unit in 0..<units { y[row * units + unit] = bias[unit] }
                }
            }
            parameters.tensors[weight].values.withUnsafeBufferPointer { w in
                Matrix.gemm(x.baseAddress!, w.baseAddress!, y.baseAddress!, m: rows, n: units, k: shape.size, transposeB: true, beta: 1)
            }
        case .gru(let units):
            recur(index, parameters, x, y, rows: rows, units: units)
        case .activation(let function):
            for i in 0..<count { y[i] = Self.apply(function, x[i]) }
        case .dropout(let rate):
            guard training && rate > 0 else {
                for i in 0..<count { y[i] = x[i] }
                return
            }
            if saved[index].count < count { saved[index] = [Float](repeating: 0, count: count) }
            let keep = 1 / Float(1 - rate)
            saved[index].withUnsafeMutableBufferPointer { mask in
                for i in 0..<count {
                    mask[i] = random.nextUnit() < rate ? 0 : keep
                    y[i] = x[i] * mask[i]
                }
            }
        case .groupNorm(let groups):
            normalize(index, parameters, x, y, rows: rows, groups: groups)
        case .layerNorm:
            normalize(index, parameters, x, y, rows: rows, groups: 1)
        }
    }

    mutating func backwardLayer(
        _ index: Int, _ parameters: Parameters, input x: UnsafeBufferPointer<Float>, dOut: UnsafeBufferPointer<Float>,
        dIn: UnsafeMutableBufferPointer<Float>, rows: Int, gradient: inout Parameters, needInput: Bool
    ) {
        let (shape, next) = (shapes[index], shapes[index + 1])
        let count = rows * shape.size
        switch layers[index] {
        case .conv1d(let filters, let kernel, let stride, let padding):
            convolveBackward(
                index, parameters, dOut, dIn, rows: rows, filters: filters, kernel: kernel, stride: stride, padding: padding, gradient: &gradient,
                needInput: needInput)
        case .maxPool:
            for i in 0..<count { dIn[i] = 0 }
            positions[index].withUnsafeBufferPointer { chosen in
                for out in 0..<(rows * next.size) { dIn[chosen[out]] += dOut[out] }
            }
        case .globalAveragePool:
            let scale = 1 / Float(shape.length)
            for pooled in 0..<(rows * next.size) {
                for position in (pooled * shape.length)..<((pooled + 1) * shape.length) { dIn[position] = dOut[pooled] * scale }
            }
        case .flatten:
            for i in 0..<count { dIn[i] = dOut[i] }
        case .dense(let units):
            guard let weight = weightIndex[index] else { return }
            gradient.withValues(at: weight) { dW in
                dW.withUnsafeMutableBufferPointer { dW in
                    Matrix.gemm(dOut.baseAddress!, x.baseAddress!, dW.baseAddress!, m: units, n: shape.size, k: rows, transposeA: true)
                }
            }
            gradient.withValues(at: weight + 1) { db in
                for unit in 0..<units { db[unit] = 0 }
                for row in 0..<rows {
                    for unit in 0..<units { db[unit] += dOut[row * units + unit] }
                }
            }
            guard needInput else { return }
            parameters.tensors[weight].values.withUnsafeBufferPointer { w in
                Matrix.gemm(dOut.baseAddress!, w.baseAddress!, dIn.baseAddress!, m: rows, n: shape.size, k: units)
            }
        case .gru(let units):
            recurBackward(index, parameters, dOut, dIn, rows: rows, units: units, gradient: &gradient, needInput: needInput)
        case .activation(let function):
            outputs[index].withUnsafeBufferPointer { y in
                for i in 0..<count { dIn[i] = dOut[i] * Self.derivative(function, input: x[i], output: y[i]) }
            }
        case .dropout(let rate):
            guard rate > 0 else {
                for i in 0..<count { dIn[i] = dOut[i] }
                return
            }
            saved[index].withUnsafeBufferPointer { mask in
                for i in 0..<count { dIn[i] = dOut[i] * mask[i] }
            }
        case .groupNorm(let groups):
            normalizeBackward(index, parameters, dOut, dIn, rows: rows, groups: groups, gradient: &gradient)
        case .layerNorm:
            normalizeBackward(index, parameters, dOut, dIn, rows: rows, groups: 1, gradient: &gradient)
        }
    }

    // MARK: Activations

    /// The nonlinearity at `x`.
    @inline(__always)
    static func apply(_ function: LayerSpec.ActivationFunction, _ x: Float) -> Float {
        switch function {
        case .relu: max(0, x)
        case .tanh: Glibc.tanh(x)
        case .sigmoid: 1 / (1 + Glibc.exp(-x))
        case .gelu: 0.5 * x * (1 + Glibc.erf(x * inverseSquareRootOfTwo))
        }
    }

    /// Its derivative, from the input or the output, whichever is cheaper.
    @inline(__always)
    static func derivative(_ function: LayerSpec.ActivationFunction, input x: Float, output y: Float) -> Float {
        switch function {
        case .relu: return x > 0 ? 1 : 0
        case .tanh: return 1 - y * y
        case .sigmoid: return y * (1 - y)
        case .gelu:
            // Φ(x) + x·φ(x)
            let cumulative: Float = 0.5 * (1 + Glibc.erf(x * inverseSquareRootOfTwo))
            let density: Float = Glibc.exp(-0.5 * x * x) * inverseSquareRootOfTwoPi
            return cumulative + x * density
        }
    }
}
