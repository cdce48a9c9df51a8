import FoundationEssentials
import Glibc

/// Forward and backward passes of the models in `ModelSpec`: dense layers (ReLU between them),
/// or a sequential model's layers (`LayerStack`), with a softmax cross-entropy head for
/// classifiers and a squared-error head for regression.
///
/// A network keeps scratch buffers for the last batch size it saw, so training allocates
/// nothing per step. Not shared between threads: each trainer owns one.
public struct DenseNetwork {
    public let spec: ModelSpec
    /// Pre-activations and activations per layer, batch-major (rows x width).
    private var preActivations: [[Float]] = []
    private var activations: [[Float]] = []
    private var deltas: [[Float]] = []
    private var batchCapacity = 0
    /// A sequential model's layers; nil for the dense kinds.
    private var stack: LayerStack?

    /// The layer shapes of `spec`; refuses a spec that is not a dense network.
    public init(spec: ModelSpec) throws(CoreError) {
        try spec.validate()
        guard spec.kind != .statistics else { throw .invalidModel("an analytics job's statistics are not a model to train or evaluate") }
        guard spec.kind != .external else {
            throw .invalidModel(
                "an external model is trained by a trainer command (an agent's 'trainer') and evaluated by an evaluation command (the aggregator's 'evaluation_command'); FedMQ cannot run it natively"
            )
        }
        self.spec = spec
        if spec.kind == .sequential { stack = try LayerStack(spec: spec) }
    }

    /// Whether training draws random numbers (dropout): `Trainer` then seeds them per run.
    public var usesRandomness: Bool { stack?.hasDropout ?? false }

    /// Seeds dropout's masks.
    public mutating func reseed(_ seed: UInt64) {
        stack?.random = SplitMix64(seed: seed)
    }

    private mutating func reserve(rows: Int) {
        guard rows > batchCapacity else { return }
        let widths = spec.layerSizes
        // Layer 0's activations are the caller's batch, so that slot stays empty.
        activations = widths.enumerated().map { [Float](repeating: 0, count: $0.offset == 0 ? 0 : rows * $0.element) }
        preActivations = widths.map { [Float](repeating: 0, count: rows * $0) }
        deltas = widths.map { [Float](repeating: 0, count: rows * $0) }
        batchCapacity = rows
    }

    /// Runs the layers on `rows` rows of `features` (which must hold at least rows x inputs
    /// values); the outputs (logits or values) end up in `activations.last`.
    private mutating func forward(_ parameters: Parameters, features: UnsafeBufferPointer<Float>, rows: Int, training: Bool) {
        reserve(rows: rows)
        if var layers = stack {
            stack = nil  // no copy of its buffers while it runs
            layers.forward(parameters, input: features, rows: rows, training: training)
            let last = activations.count - 1
            layers.outputs[layers.outputs.count - 1].withUnsafeBufferPointer { out in
                for i in 0..<(rows * spec.outputs) { activations[last][i] = out[i] }
            }
            stack = layers
            return
        }
        let widths = spec.layerSizes
        for layer in 1..<widths.count {
            let (inputs, outputs) = (widths[layer - 1], widths[layer])
            let weights = parameters.tensors[2 * (layer - 1)].values
            let bias = parameters.tensors[2 * (layer - 1) + 1].values
            let last = layer == widths.count - 1
            withLayerInput(layer, features) { input in
                preActivations[layer].withUnsafeMutableBufferPointer { z in
                    // Broadcast the bias into Z, then Z += A W.
                    for row in 0..<rows {
                        for j in 0..<outputs { z[row * outputs + j] = bias[j] }
                    }
                    weights.withUnsafeBufferPointer { w in
                        Matrix.gemm(input.baseAddress!, w.baseAddress!, z.baseAddress!, m: rows, n: outputs, k: inputs, beta: 1)
                    }
                }
            }
            preActivations[layer].withUnsafeBufferPointer { z in
                activations[layer].withUnsafeMutableBufferPointer { a in
                    if last {
                        for i in 0..<(rows * outputs) { a[i] = z[i] }
                    } else {
                        for i in 0..<(rows * outputs) { a[i] = max(0, z[i]) }
                    }
                }
            }
        }
    }

    /// Mean loss over the batch and its gradient (written into `gradient`, which must have the
    /// model's layout). Targets are class indices (as floats) or regression values. With
    /// `mixed`, each row's loss is λ·L(targets) + (1 − λ)·L(mixed.partners) (mixup); with
    /// `teacher` (classifiers), the distillation loss of `DistillationTargets`.
    @discardableResult
    public mutating func lossAndGradient(
        _ parameters: Parameters, features: UnsafeBufferPointer<Float>, targets: UnsafeBufferPointer<Float>, rows: Int,
        into gradient: inout Parameters, mixed: (lambda: Float, partners: [Float])? = nil, teacher: DistillationTargets? = nil
    ) -> Double {
        precondition(rows > 0 && features.count >= rows * spec.inputs && targets.count >= rows, "batch buffers too small")
        precondition(mixed.map { $0.partners.count >= rows } ?? true, "mixup partners too few")
        precondition(teacher.map { $0.logits.count >= rows * spec.outputs } ?? true, "teacher logits too few")
        forward(parameters, features: features, rows: rows, training: true)
        let widths = spec.layerSizes
        let outputs = widths.last!
        let loss =
            if spec.reconstructs {
                reconstructionDelta(features: features, rows: rows)
            } else if let teacher, spec.isClassifier {
                distillationDelta(targets: targets, rows: rows, outputs: outputs, teacher: teacher)
            } else {
                outputDelta(targets: targets, rows: rows, outputs: outputs, mixed: mixed)
            }
        if var layers = stack {
            stack = nil
            deltas[deltas.count - 1].withUnsafeBufferPointer { delta in
                layers.backward(parameters, input: features, outputGradient: delta, rows: rows, into: &gradient)
            }
            stack = layers
            return loss
        }
        for layer in stride(from: widths.count - 1, through: 1, by: -1) {
            let (inputs, width) = (widths[layer - 1], widths[layer])
            let weightIndex = 2 * (layer - 1)
            deltas[layer].withUnsafeBufferPointer { delta in
                withLayerInput(layer, features) { input in
                    gradient.withValues(at: weightIndex) { dW in
                        dW.withUnsafeMutableBufferPointer { dW in
                            // dW = A^T dZ  (inputs x width)
                            Matrix.gemm(
                                input.baseAddress!, delta.baseAddress!, dW.baseAddress!, m: inputs, n: width, k: rows,
                                transposeA: true)
                        }
                    }
                }
                gradient.withValues(at: weightIndex + 1) { db in
                    for j in 0..<width { db[j] = 0 }
                    for row in 0..<rows {
                        for j in 0..<width { db[j] += delta[row * width + j] }
                    }
                }
                guard layer > 1 else { return }
                parameters.tensors[weightIndex].values.withUnsafeBufferPointer { w in
                    deltas[layer - 1].withUnsafeMutableBufferPointer { previous in
                        // dA = dZ W^T  (rows x inputs), then through the ReLU.
                        Matrix.gemm(
                            delta.baseAddress!, w.baseAddress!, previous.baseAddress!, m: rows, n: inputs, k: width,
                            transposeB: true)
                        preActivations[layer - 1].withUnsafeBufferPointer { z in
                            for i in 0..<(rows * inputs) where z[i] <= 0 { previous[i] = 0 }
                        }
                    }
                }
            }
        }
        return loss
    }

    /// The input of `layer`: the caller's batch for the first layer (no copy), else the
    /// previous layer's activations.
    @inline(__always)
    private func withLayerInput<Result>(
        _ layer: Int, _ features: UnsafeBufferPointer<Float>, _ body: (UnsafeBufferPointer<Float>) -> Result
    ) -> Result {
        layer == 1 ? body(features) : activations[layer - 1].withUnsafeBufferPointer(body)
    }

    /// Fills `deltas.last` with dLoss/dOutput and returns the mean loss.
    private mutating func outputDelta(
        targets: UnsafeBufferPointer<Float>, rows: Int, outputs: Int, mixed: (lambda: Float, partners: [Float])?
    ) -> Double {
        let lambda = mixed?.lambda ?? 1
        let scale = 1 / Float(rows)
        var loss = 0.0
        let classifier = spec.isClassifier
        activations[activations.count - 1].withUnsafeBufferPointer { out in
            deltas[deltas.count - 1].withUnsafeMutableBufferPointer { delta in
                for row in 0..<rows {
                    let base = row * outputs
                    if classifier {
                        var peak = -Float.infinity
                        for j in 0..<outputs { peak = max(peak, out[base + j]) }
                        var total: Float = 0
                        for j in 0..<outputs {
                            let e = Glibc.exp(out[base + j] - peak)
                            delta[base + j] = e
                            total += e
                        }
                        let label = Int(targets[row])
                        for j in 0..<outputs { delta[base + j] = delta[base + j] / total }
                        loss -= Double(lambda * Glibc.log(max(delta[base + label], .leastNormalMagnitude)))
                        if let partner = mixed.map({ Int($0.partners[row]) }) {
                            loss -= Double((1 - lambda) * Glibc.log(max(delta[base + partner], .leastNormalMagnitude)))
                            delta[base + partner] -= 1 - lambda
                        }
                        delta[base + label] -= lambda
                        for j in 0..<outputs { delta[base + j] *= scale }
                    } else {
                        let target = lambda * targets[row] + (1 - lambda) * (mixed?.partners[row] ?? 0)
                        let error = out[base] - target
                        loss += Double(error * error)
                        delta[base] = 2 * error * scale
                    }
                }
            }
        }
        return loss / Double(rows)
    }

    /// Fills `deltas.last` with the gradient of an autoencoder's loss, the mean squared error
    /// over all values of the batch (PyTorch's `MSELoss`), and returns it.
    private mutating func reconstructionDelta(features: UnsafeBufferPointer<Float>, rows: Int) -> Double {
        let count = rows * spec.outputs
        let scale = 2 / Float(count)
        var loss = 0.0
        activations[activations.count - 1].withUnsafeBufferPointer { out in
            deltas[deltas.count - 1].withUnsafeMutableBufferPointer { delta in
                for i in 0..<count {
                    let error = out[i] - features[i]
                    loss += Double(error * error)
                    delta[i] = scale * error
                }
            }
        }
        return loss / Double(count)
    }

    /// Fills `deltas.last` with the distillation loss's gradient and returns its batch mean:
    /// per row (1 − a)·CE(p, y) + a·T²·KL(q_T ‖ p_T), whose gradient in the logits is
    /// (1 − a)(p − y) + a·T·(p_T − q_T) (p_T, q_T: student and teacher softmax at temperature T).
    private mutating func distillationDelta(
        targets: UnsafeBufferPointer<Float>, rows: Int, outputs: Int, teacher: DistillationTargets
    ) -> Double {
        let (a, t) = (Double(teacher.alpha), Double(teacher.temperature))
        var loss = 0.0
        activations[activations.count - 1].withUnsafeBufferPointer { out in
            deltas[deltas.count - 1].withUnsafeMutableBufferPointer { delta in
                for row in 0..<rows {
                    let base = row * outputs
                    let student = (0..<outputs).map { Double(out[base + $0]) }
                    let p = Self.softmax(student, temperature: 1)
                    let pT = Self.softmax(student, temperature: t)
                    let qT = Self.softmax((0..<outputs).map { Double(teacher.logits[base + $0]) }, temperature: t)
                    let label = Int(targets[row])
                    loss -= (1 - a) * Glibc.log(max(p[label], .leastNormalMagnitude))
                    for j in 0..<outputs where qT[j] > 0 {
                        loss += a * t * t * qT[j] * (Glibc.log(qT[j]) - Glibc.log(max(pT[j], .leastNormalMagnitude)))
                    }
                    for j in 0..<outputs {
                        let hard = p[j] - (j == label ? 1 : 0)
                        delta[base + j] = Float(((1 - a) * hard + a * t * (pT[j] - qT[j])) / Double(rows))
                    }
                }
            }
        }
        return loss / Double(rows)
    }

    /// softmax(z / T), computed stably in Double.
    static func softmax(_ logits: [Double], temperature: Double) -> [Double] {
        let scaled = logits.map { $0 / temperature }
        let peak = scaled.max() ?? 0
        let exps = scaled.map { Glibc.exp($0 - peak) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }

    /// Outputs for `rows` rows: logits (classifiers) or predicted values (regression), row-major.
    public mutating func outputs(_ parameters: Parameters, features: UnsafeBufferPointer<Float>, rows: Int) -> [Float] {
        precondition(rows > 0 && features.count >= rows * spec.inputs, "feature buffer too small")
        forward(parameters, features: features, rows: rows, training: false)
        return Array(activations[activations.count - 1].prefix(rows * spec.outputs))
    }

    /// Predicted class index per row (classifiers) or predicted value per row (regression).
    public mutating func predict(_ parameters: Parameters, features: UnsafeBufferPointer<Float>, rows: Int) -> [Float] {
        let values = outputs(parameters, features: features, rows: rows)
        guard spec.isClassifier else { return values }
        let classes = spec.outputs
        return (0..<rows).map { row in
            let slice = values[(row * classes)..<((row + 1) * classes)]
            return Float(slice.indices.max { slice[$0] < slice[$1] }! - slice.startIndex)
        }
    }
}
