extension ModelSpec {
    /// The most layers a sequential model may have, and values one layer may keep per example.
    static let sequentialLayerLimit = 64
    static let workingSizeLimit = 1 << 24

    /// A `sequential` model of `layers` on rows of `inputShape` ([channels, length], or nil for
    /// flat rows of `inputs`) with `outputs` outputs.
    public init(layers: [LayerSpec], inputs: Int, inputShape: [Int]? = nil, outputs: Int, scaling: FeatureScaling? = nil) {
        self.init(kind: .sequential, inputs: inputs, outputs: outputs, scaling: scaling)
        self.layers = layers
        self.inputShape = inputShape
    }

    /// The quantile of the agents' reconstruction errors that sets an autoencoder's anomaly
    /// threshold (0.99 unless the spec says); nil for other models.
    public var anomalyThresholdQuantile: Double? { reconstructs ? anomalyQuantile ?? 0.99 : nil }

    /// The shape of an example entering the first layer.
    var sequentialInput: ActivationShape {
        if let inputShape, inputShape.count == 2 { return ActivationShape(channels: inputShape[0], length: inputShape[1], flat: false) }
        return ActivationShape(channels: inputs, length: 1, flat: true)
    }

    /// Each layer's input shape, the final output shape, and the tensors in wire order.
    func sequentialShapes() throws(CoreError) -> (inputs: [ActivationShape], output: ActivationShape, parameters: [(name: String, shape: [Int])]) {
        var shape = sequentialInput
        var inputs: [ActivationShape] = []
        var parameters: [(name: String, shape: [Int])] = []
        for (index, layer) in (layers ?? []).enumerated() {
            inputs.append(shape)
            parameters += layer.parameters(for: shape, index: index)
            shape = try layer.output(of: shape, index: index)
        }
        return (inputs, shape, parameters)
    }

    /// Checks a sequential spec: its input shape, every layer on the shape it gets, and a last
    /// layer that gives `outputs` flat values.
    func validateSequential() throws(CoreError) {
        guard kind == .sequential else { throw .invalidModel("only a sequential model has 'layers' and 'input_shape' (this is \(kind.rawValue))") }
        guard let layers, !layers.isEmpty, layers.count <= Self.sequentialLayerLimit else {
            throw .invalidModel("a sequential model needs 'layers': 1 to \(Self.sequentialLayerLimit) of them")
        }
        guard hidden.isEmpty, activation == .relu else { throw .invalidModel("a sequential model has no 'hidden' or 'activation': give its layers") }
        guard inputs >= 1, inputs <= 1 << 24, outputs >= 1, outputs <= 1 << 20 else {
            throw .invalidModel("inputs (\(inputs)) and outputs (\(outputs)) must be positive")
        }
        if let inputShape {
            guard inputShape.count == 2, inputShape.allSatisfy({ $0 >= 1 }), inputShape[0] * inputShape[1] == inputs else {
                throw .invalidModel("input_shape must be [channels, length] with channels x length = inputs (\(inputs)), not \(inputShape)")
            }
        }
        if reconstructs && outputs != inputs {
            throw .invalidModel("an autoencoder (objective reconstruction) outputs its \(inputs) inputs, not \(outputs) values")
        }
        if let anomalyQuantile {
            guard reconstructs else { throw .invalidModel("anomaly_quantile is for an autoencoder (objective reconstruction)") }
            guard anomalyQuantile > 0, anomalyQuantile < 1 else { throw .invalidModel("anomaly_quantile must lie in (0, 1), not \(anomalyQuantile)") }
        }
        let (shapes, output, parameters) = try sequentialShapes()
        for (index, layer) in layers.enumerated() {
            let next = index + 1 < shapes.count ? shapes[index + 1] : output
            let size = layer.workingSize(for: shapes[index], output: next)
            guard size <= Self.workingSizeLimit else {
                throw .invalidModel("layer \(index) (\(layer.type)) keeps \(size) values per example, more than \(Self.workingSizeLimit)")
            }
        }
        guard output.flat, output.size == outputs else {
            throw .invalidModel(
                "the last layer gives \(output) per example; the model needs \(outputs) flat outputs (end with a dense layer of \(outputs) units)")
        }
        let total = parameters.reduce(0) { $0 + $1.shape.reduce(1, *) }
        guard total <= Self.externalValueLimit else {
            throw .invalidModel("the layers have \(total) parameters, more than \(Self.externalValueLimit)")
        }
        if let scaling, scaling.mean.count != inputs || scaling.std.count != inputs || !scaling.std.allSatisfy({ $0 > 0 && $0.isFinite }) {
            throw .invalidModel("feature scaling must have \(inputs) finite means and positive stds")
        }
    }

    /// PyTorch's default initialisation: weights and biases of convolutions and dense layers from
    /// U(−1/√fan_in, 1/√fan_in), normalization weights 1 and biases 0; drawn in wire order.
    func initialSequentialParameters(random: inout SplitMix64) throws(CoreError) -> Parameters {
        let (inputs, _, _) = try sequentialShapes()
        var tensors: [Tensor] = []
        for (index, layer) in (layers ?? []).enumerated() {
            let bound = layer.initialBound(for: inputs[index])
            for (name, shape) in layer.parameters(for: inputs[index], index: index) {
                var tensor = Tensor(zeros: shape, name: name)
                if let bound {
                    for i in tensor.values.indices { tensor.values[i] = Float((random.nextUnit() * 2 - 1) * bound) }
                } else if name.hasSuffix(".weight") {
                    tensor.values = [Float](repeating: 1, count: tensor.values.count)
                }
                tensors.append(tensor)
            }
        }
        return try Parameters(tensors)
    }
}
