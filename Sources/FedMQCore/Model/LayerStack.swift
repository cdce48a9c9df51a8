/// Forward and backward passes of a `sequential` model's layers on a batch of rows, each row
/// one example laid out channel-major (all of channel 0's values over time, then channel 1's).
///
/// It keeps every layer's output and what its backward pass needs (a convolution's unfolded
/// input, a pool's chosen positions, a normalization's normalised values, a dropout mask, a
/// GRU's gates at every step) for
/// the last batch, reusing the buffers between batches. Not shared between threads.
struct LayerStack {
    let layers: [LayerSpec]
    /// shapes[i] is layer i's input; shapes.last the model's output.
    let shapes: [ActivationShape]
    /// The index of layer i's weight tensor in the parameters (its bias follows), if it has one.
    let weightIndex: [Int?]
    /// outputs[i]: layer i's output for the batch (rows x shapes[i + 1].size).
    private(set) var outputs: [[Float]]
    /// Per layer: unfolded inputs (conv1d), normalised values (norms), masks (dropout).
    var saved: [[Float]]
    /// Per layer: positions of the maxima (max_pool), or 1/σ per example and group (norms).
    var positions: [[Int]]
    var inverseDeviations: [[Float]]
    /// Per layer: a GRU's gate values at every time step.
    var recurrent: [[Float]]
    /// Scratch for the gradients flowing backwards, and for a convolution's products.
    private var gradientIn: [Float] = []
    private var gradientOut: [Float] = []
    var scratch: [Float] = []
    /// Dropout's masks (seeded; `reseed` per training run).
    var random = SplitMix64(seed: 0x5EED)
    private var rowCapacity = 0

    /// The stack of `spec` (a validated sequential spec).
    init(spec: ModelSpec) throws(CoreError) {
        let (inputs, output, _) = try spec.sequentialShapes()
        layers = spec.layers ?? []
        shapes = inputs + [output]
        var next = 0
        weightIndex = zip(layers, inputs).enumerated().map { index, pair in
            let count = pair.0.parameters(for: pair.1, index: index).count
            defer { next += count }
            return count > 0 ? next : nil
        }
        outputs = Array(repeating: [], count: layers.count)
        saved = Array(repeating: [], count: layers.count)
        positions = Array(repeating: [], count: layers.count)
        inverseDeviations = Array(repeating: [], count: layers.count)
        recurrent = Array(repeating: [], count: layers.count)
    }

    /// Whether a layer draws random numbers in training.
    var hasDropout: Bool { layers.contains { if case .dropout(let rate) = $0 { rate > 0 } else { false } } }

    private mutating func reserve(rows: Int) {
        guard rows > rowCapacity else { return }
        for index in layers.indices { outputs[index] = [Float](repeating: 0, count: rows * shapes[index + 1].size) }
        let widest = shapes.map(\.size).max() ?? 0
        gradientIn = [Float](repeating: 0, count: rows * widest)
        gradientOut = gradientIn
        rowCapacity = rows
    }

    /// Runs every layer on `rows` rows of `input`; the result is `outputs.last`. In `training`,
    /// dropout drops.
    mutating func forward(_ parameters: Parameters, input: UnsafeBufferPointer<Float>, rows: Int, training: Bool) {
        reserve(rows: rows)
        for index in layers.indices {
            var output = outputs[index]
            outputs[index] = []  // no copy on write while the layer fills it
            output.withUnsafeMutableBufferPointer { output in
                if index == 0 {
                    forwardLayer(index, parameters, input: input, output: output, rows: rows, training: training)
                } else {
                    let previous = outputs[index - 1]  // shares the storage: no copy
                    previous.withUnsafeBufferPointer { previous in
                        forwardLayer(index, parameters, input: previous, output: output, rows: rows, training: training)
                    }
                }
            }
            outputs[index] = output
        }
    }

    /// Back-propagates `outputGradient` (dLoss/dOutput, rows x outputs) through the layers of the
    /// last `forward`, writing every tensor's gradient into `gradient`.
    mutating func backward(
        _ parameters: Parameters, input: UnsafeBufferPointer<Float>, outputGradient: UnsafeBufferPointer<Float>, rows: Int,
        into gradient: inout Parameters
    ) {
        var upstream = gradientOut
        var downstream = gradientIn
        gradientOut = []
        gradientIn = []
        for i in 0..<(rows * shapes[layers.count].size) { upstream[i] = outputGradient[i] }
        for index in layers.indices.reversed() {
            upstream.withUnsafeBufferPointer { dOut in
                downstream.withUnsafeMutableBufferPointer { dIn in
                    if index == 0 {
                        backwardLayer(index, parameters, input: input, dOut: dOut, dIn: dIn, rows: rows, gradient: &gradient, needInput: false)
                    } else {
                        let previous = outputs[index - 1]
                        previous.withUnsafeBufferPointer { x in
                            backwardLayer(index, parameters, input: x, dOut: dOut, dIn: dIn, rows: rows, gradient: &gradient, needInput: true)
                        }
                    }
                }
            }
            swap(&upstream, &downstream)
        }
        gradientOut = upstream
        gradientIn = downstream
    }
}
