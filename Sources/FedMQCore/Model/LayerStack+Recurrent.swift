import FoundationEssentials
import Glibc

/// A GRU over time, PyTorch's equations and gate order (reset, update, new):
///   r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
///   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h,
/// from h = 0; the layer gives the last h. The input's time steps are gathered time-major so
/// that each step's rows are adjacent and the input products of all steps are one product.
extension LayerStack {
    /// The gate values a step keeps for the backward pass: r, z, n, W_hn h + b_hn and the
    /// previous h, each (steps x rows x units), in that order.
    private static let keptPerStep = 5

    mutating func recur(
        _ index: Int, _ parameters: Parameters, _ x: UnsafeBufferPointer<Float>, _ y: UnsafeMutableBufferPointer<Float>, rows: Int, units: Int
    ) {
        guard let weight = weightIndex[index] else { return }
        let (channels, steps) = (shapes[index].channels, shapes[index].length)
        let block = steps * rows * units
        let gates = 3 * units
        if saved[index].count < steps * rows * channels { saved[index] = [Float](repeating: 0, count: steps * rows * channels) }
        if recurrent[index].count < Self.keptPerStep * block { recurrent[index] = [Float](repeating: 0, count: Self.keptPerStep * block) }
        if scratch.count < steps * rows * gates { scratch = [Float](repeating: 0, count: steps * rows * gates) }
        var hidden = [Float](repeating: 0, count: rows * units)
        var hiddenGates = [Float](repeating: 0, count: rows * gates)
        let (inputWeights, hiddenWeights) = (parameters.tensors[weight].values, parameters.tensors[weight + 1].values)
        let (inputBias, hiddenBias) = (parameters.tensors[weight + 2].values, parameters.tensors[weight + 3].values)
        saved[index].withUnsafeMutableBufferPointer { sequence in
            for row in 0..<rows {
                for channel in 0..<channels {
                    for step in 0..<steps { sequence[(step * rows + row) * channels + channel] = x[(row * channels + channel) * steps + step] }
                }
            }
            scratch.withUnsafeMutableBufferPointer { inputGates in
                inputWeights.withUnsafeBufferPointer { w in
                    Matrix.gemm(
                        sequence.baseAddress!, w.baseAddress!, inputGates.baseAddress!, m: steps * rows, n: gates, k: channels, transposeB: true)
                }
                for position in 0..<(steps * rows) {
                    for gate in 0..<gates { inputGates[position * gates + gate] += inputBias[gate] }
                }
                recurrent[index].withUnsafeMutableBufferPointer { kept in
                    for step in 0..<steps {
                        for row in 0..<rows {
                            for gate in 0..<gates { hiddenGates[row * gates + gate] = hiddenBias[gate] }
                        }
                        hidden.withUnsafeBufferPointer { h in
                            hiddenWeights.withUnsafeBufferPointer { w in
                                hiddenGates.withUnsafeMutableBufferPointer { g in
                                    Matrix.gemm(
                                        h.baseAddress!, w.baseAddress!, g.baseAddress!, m: rows, n: gates, k: units, transposeB: true, beta: 1)
                                }
                            }
                        }
                        for row in 0..<rows {
                            let input = (step * rows + row) * gates
                            for unit in 0..<units {
                                let at = (step * rows + row) * units + unit
                                let reset = 1 / (1 + Glibc.exp(-(inputGates[input + unit] + hiddenGates[row * gates + unit])))
                                let update = 1 / (1 + Glibc.exp(-(inputGates[input + units + unit] + hiddenGates[row * gates + units + unit])))
                                let recalled = hiddenGates[row * gates + 2 * units + unit]
                                let candidate = Glibc.tanh(inputGates[input + 2 * units + unit] + reset * recalled)
                                let previous = hidden[row * units + unit]
                                kept[at] = reset
                                kept[block + at] = update
                                kept[2 * block + at] = candidate
                                kept[3 * block + at] = recalled
                                kept[4 * block + at] = previous
                                hidden[row * units + unit] = (1 - update) * candidate + update * previous
                            }
                        }
                    }
                }
            }
        }
        for i in 0..<(rows * units) { y[i] = hidden[i] }
    }

    /// Back-propagation through time: the four tensors' gradients, and (with `needInput`) dIn.
    mutating func recurBackward(
        _ index: Int, _ parameters: Parameters, _ dOut: UnsafeBufferPointer<Float>, _ dIn: UnsafeMutableBufferPointer<Float>, rows: Int, units: Int,
        gradient: inout Parameters, needInput: Bool
    ) {
        guard let weight = weightIndex[index] else { return }
        let (channels, steps) = (shapes[index].channels, shapes[index].length)
        let block = steps * rows * units
        let gates = 3 * units
        let (inputWeights, hiddenWeights) = (parameters.tensors[weight].values, parameters.tensors[weight + 1].values)
        var dHidden = Array(dOut.prefix(rows * units))
        var dEarlier = [Float](repeating: 0, count: rows * units)
        var dHiddenGates = [Float](repeating: 0, count: rows * gates)
        var dHiddenWeights = [Float](repeating: 0, count: gates * units)
        var dHiddenBias = [Float](repeating: 0, count: gates)
        scratch.withUnsafeMutableBufferPointer { dInputGates in
            recurrent[index].withUnsafeBufferPointer { kept in
                for step in stride(from: steps - 1, through: 0, by: -1) {
                    for row in 0..<rows {
                        for unit in 0..<units {
                            let at = (step * rows + row) * units + unit
                            let (reset, update, candidate) = (kept[at], kept[block + at], kept[2 * block + at])
                            let (recalled, previous) = (kept[3 * block + at], kept[4 * block + at])
                            let dh = dHidden[row * units + unit]
                            let dCandidate = dh * (1 - update) * (1 - candidate * candidate)
                            let dUpdate = dh * (previous - candidate) * update * (1 - update)
                            let dReset = dCandidate * recalled * reset * (1 - reset)
                            let input = (step * rows + row) * gates
                            dInputGates[input + unit] = dReset
                            dInputGates[input + units + unit] = dUpdate
                            dInputGates[input + 2 * units + unit] = dCandidate
                            dHiddenGates[row * gates + unit] = dReset
                            dHiddenGates[row * gates + units + unit] = dUpdate
                            dHiddenGates[row * gates + 2 * units + unit] = dCandidate * reset
                            dEarlier[row * units + unit] = dh * update
                        }
                    }
                    for row in 0..<rows {
                        for gate in 0..<gates { dHiddenBias[gate] += dHiddenGates[row * gates + gate] }
                    }
                    dHiddenGates.withUnsafeBufferPointer { dg in
                        let previous = UnsafeBufferPointer(
                            rebasing: kept[(4 * block + step * rows * units)..<(4 * block + (step + 1) * rows * units)])
                        dHiddenWeights.withUnsafeMutableBufferPointer { dW in
                            Matrix.gemm(
                                dg.baseAddress!, previous.baseAddress!, dW.baseAddress!, m: gates, n: units, k: rows, transposeA: true, beta: 1)
                        }
                        hiddenWeights.withUnsafeBufferPointer { w in
                            dEarlier.withUnsafeMutableBufferPointer { dh in
                                Matrix.gemm(dg.baseAddress!, w.baseAddress!, dh.baseAddress!, m: rows, n: units, k: gates, beta: 1)
                            }
                        }
                    }
                    swap(&dHidden, &dEarlier)
                }
            }
            saved[index].withUnsafeMutableBufferPointer { sequence in
                gradient.withValues(at: weight) { dW in
                    dW.withUnsafeMutableBufferPointer { dW in
                        Matrix.gemm(
                            dInputGates.baseAddress!, sequence.baseAddress!, dW.baseAddress!, m: gates, n: channels, k: steps * rows, transposeA: true
                        )
                    }
                }
                gradient.withValues(at: weight + 2) { db in
                    for gate in 0..<gates { db[gate] = 0 }
                    for position in 0..<(steps * rows) {
                        for gate in 0..<gates { db[gate] += dInputGates[position * gates + gate] }
                    }
                }
                guard needInput else { return }
                // The gathered input is not needed any more: its buffer takes its gradient.
                inputWeights.withUnsafeBufferPointer { w in
                    Matrix.gemm(dInputGates.baseAddress!, w.baseAddress!, sequence.baseAddress!, m: steps * rows, n: channels, k: gates)
                }
                for row in 0..<rows {
                    for channel in 0..<channels {
                        for step in 0..<steps { dIn[(row * channels + channel) * steps + step] = sequence[(step * rows + row) * channels + channel] }
                    }
                }
            }
        }
        gradient.withValues(at: weight + 1) { $0 = dHiddenWeights }
        gradient.withValues(at: weight + 3) { $0 = dHiddenBias }
    }
}
