import FoundationEssentials

/// Standardization fitted on training data: x' = (x - mean) / std, per feature.
public struct FeatureScaling: Codable, Sendable, Equatable {
    public var mean: [Float]
    public var std: [Float]

    /// Standardization with these per-feature means and standard deviations.
    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }
}

/// A small, versioned description of a model: enough for a device to rebuild the model from
/// the global model's metadata alone (it travels as `fedmq.model_spec` in safetensors).
public struct ModelSpec: Codable, Sendable, Equatable {
    public static let currentVersion = 1

    /// The model families FedMQCore trains natively.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// Multinomial logistic regression: logits = x W + b, softmax cross-entropy.
        case softmaxRegression = "softmax_regression"
        /// Dense layers with ReLU between them, softmax cross-entropy.
        case mlp
        /// Linear regression, mean squared error, for sensor-value targets.
        case linearRegression = "linear_regression"
        /// Not a model: the sufficient statistics of an analytics job (`StatisticsLayout`), one
        /// tensor of `inputs` entries that agents compute instead of training.
        case statistics
        /// Layers in order (`layers`: convolutions, pooling, normalization, dense, activations,
        /// dropout), softmax cross-entropy for 2 or more outputs, squared error for one.
        case sequential
        /// Any architecture, trained by the agents' trainer command and evaluated by the
        /// aggregator's evaluation command: FedMQ knows only its `tensors` (names and shapes).
        case external
    }

    /// The hidden layers' activation.
    public enum Activation: String, Codable, Sendable {
        case relu
    }

    public var version: Int
    public var kind: Kind
    public var inputs: Int
    /// Hidden layer sizes (MLP only).
    public var hidden: [Int]
    /// Classes for classifiers; 1 for linear regression.
    public var outputs: Int
    public var activation: Activation
    public var scaling: FeatureScaling?
    /// The tensors of an `external` model, in wire order (nil for the native kinds, whose
    /// layout follows from their sizes).
    public var tensors: [TensorSpec]?
    /// The layers of a `sequential` model, and the shape of its input: [channels, length] for
    /// rows that are channel-major windows, or nil for a flat row of `inputs` features.
    public var layers: [LayerSpec]?
    public var inputShape: [Int]?
    /// What a sequential model learns: its targets (nil, the default) or its own input
    /// (`reconstruction`: an autoencoder, for anomaly detection).
    public var objective: Objective?
    /// An autoencoder's anomaly threshold: this quantile of the agents' reconstruction errors
    /// (default 0.99), reported with federated evaluation.
    public var anomalyQuantile: Double?

    /// What a sequential model is trained to output.
    public enum Objective: String, Codable, Sendable {
        /// The targets: classes or a value (the default).
        case prediction
        /// The input itself, with the mean squared error over its values.
        case reconstruction
    }

    /// A model of `kind` with these sizes; `validate()` checks them.
    public init(
        kind: Kind, inputs: Int, hidden: [Int] = [], outputs: Int, activation: Activation = .relu,
        scaling: FeatureScaling? = nil
    ) {
        version = Self.currentVersion
        self.kind = kind
        self.inputs = inputs
        self.hidden = hidden
        self.outputs = outputs
        self.activation = activation
        self.scaling = scaling
    }

    /// Whether FedMQ's own trainer and evaluation can run it (every kind but `external` and `statistics`).
    public var isNative: Bool { kind != .external && kind != .statistics }

    /// Whether its weight matrices are laid out (in, out): the dense kinds, unlike PyTorch's
    /// (out, in) that sequential models keep.
    public var hasInOutWeights: Bool { kind == .softmaxRegression || kind == .mlp || kind == .linearRegression }

    public var isClassifier: Bool {
        kind == .softmaxRegression || kind == .mlp || (kind == .sequential && outputs >= 2 && !reconstructs)
    }

    /// Whether the model learns to reproduce its input (an autoencoder).
    public var reconstructs: Bool { objective == .reconstruction }

    /// The spec of an analytics job's statistics vector.
    public static func statistics(_ settings: AnalyticsSettings) -> ModelSpec {
        ModelSpec(kind: .statistics, inputs: settings.layout.count, outputs: 1)
    }

    /// Layer widths from input to output.
    public var layerSizes: [Int] { [inputs] + hidden + [outputs] }

    /// Tensor names and shapes in wire order: W, b for one layer; W1, b1, W2, b2 ... otherwise.
    /// Weights are (in, out), row-major.
    public var parameterLayout: [(name: String, shape: [Int])] {
        if kind == .statistics { return [(StatisticsLayout.tensorName, [inputs])] }
        if kind == .external { return (tensors ?? []).map { ($0.name, $0.shape) } }
        if kind == .sequential { return (try? sequentialShapes().parameters) ?? [] }
        let sizes = layerSizes
        let single = sizes.count == 2
        return (1..<sizes.count).flatMap { layer -> [(String, [Int])] in
            let suffix = single ? "" : "\(layer)"
            return [("W\(suffix)", [sizes[layer - 1], sizes[layer]]), ("b\(suffix)", [sizes[layer]])]
        }
    }

    /// Refuses sizes that make no model or an unreasonably large one, naming the field.
    public func validate() throws(CoreError) {
        if version != Self.currentVersion {
            throw .invalidModel("spec version \(version) is not supported (this build reads \(Self.currentVersion))")
        }
        if kind == .external || tensors != nil { return try validateExternal() }
        if kind == .sequential || layers != nil || inputShape != nil || objective != nil || anomalyQuantile != nil {
            return try validateSequential()
        }
        if inputs < 1 || outputs < 1 { throw .invalidModel("inputs (\(inputs)) and outputs (\(outputs)) must be positive") }
        if inputs > 1 << 24 || outputs > 1 << 20 || hidden.count > 16 || hidden.contains(where: { $0 < 1 || $0 > 1 << 20 }) {
            throw .invalidModel("layer sizes \(layerSizes) are out of range")
        }
        switch kind {
        case .softmaxRegression where !hidden.isEmpty, .linearRegression where !hidden.isEmpty, .statistics where !hidden.isEmpty:
            throw .invalidModel("\(kind.rawValue) has no hidden layers")
        case .softmaxRegression where outputs < 2, .mlp where outputs < 2:
            throw .invalidModel("a classifier needs at least 2 classes")
        case .linearRegression where outputs != 1:
            throw .invalidModel("linear regression predicts one value (outputs must be 1)")
        case .statistics where outputs != 1 || scaling != nil:
            throw .invalidModel("statistics hold one vector (outputs 1, no scaling)")
        case .mlp where hidden.isEmpty:
            throw .invalidModel("an MLP needs at least one hidden layer")
        default:
            break
        }
        if let scaling,
            scaling.mean.count != inputs || scaling.std.count != inputs
                || !scaling.std.allSatisfy({ $0 > 0 && $0.isFinite }) || !scaling.mean.allSatisfy(\.isFinite)
        {
            throw .invalidModel("feature scaling must have \(inputs) finite means and positive stds")
        }
    }

    /// Checks that `parameters` fit this spec.
    public func check(_ parameters: Parameters) throws(CoreError) {
        let layout = parameterLayout
        guard parameters.names == layout.map(\.name) else {
            throw .tensorSetMismatch(expected: layout.map(\.name), actual: parameters.names)
        }
        for (tensor, expected) in zip(parameters.tensors, layout) where tensor.shape != expected.shape {
            throw .shapeMismatch(tensor: tensor.name, expected: expected.shape, actual: tensor.shape)
        }
    }

    /// Initial parameters: zeros for the linear models, He-uniform weights (zero biases) for
    /// the MLP, drawn in layer order from SplitMix64(seed).
    public func initialParameters(seed: UInt64) throws(CoreError) -> Parameters {
        try validate()
        guard kind != .external else {
            throw .invalidModel(
                "an external model has no built-in initialisation: start the job from a model file (initial_model; see fedmq model import)")
        }
        var random = SplitMix64(seed: seed)
        if kind == .sequential { return try initialSequentialParameters(random: &random) }
        var tensors: [Tensor] = []
        for (name, shape) in parameterLayout {
            var tensor = Tensor(zeros: shape, name: name)
            if kind == .mlp && shape.count == 2 {
                let limit = (6.0 / Double(shape[0])).squareRoot()
                for i in tensor.values.indices { tensor.values[i] = Float((random.nextUnit() * 2 - 1) * limit) }
            }
            tensors.append(tensor)
        }
        return try Parameters(tensors)
    }

    // MARK: JSON

    enum CodingKeys: String, CodingKey, CaseIterable {
        case version, kind, inputs, hidden, outputs, activation, scaling, tensors, layers
        case inputShape = "input_shape"
        case anomalyQuantile = "anomaly_quantile"
        case objective
    }

    /// `version`, `kind`, `inputs` and `outputs` are required (an external model needs
    /// `tensors` instead, and `inputs` and `outputs` only if its trainer reads them); `hidden`
    /// defaults to none and `activation` to relu. A key the spec does not know is refused, never
    /// ignored.
    public init(from decoder: any Decoder) throws {
        try refuseUnknownKeys(decoder, known: Set(CodingKeys.allCases.map(\.rawValue)))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        version = try container.decode(Int.self, forKey: .version)
        let kindName = try container.decode(String.self, forKey: .kind)
        guard let kind = Kind(rawValue: kindName) else {
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: container,
                debugDescription: "unknown kind '\(kindName)' (valid: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self.kind = kind
        let external = kind == .external
        inputs = try external ? container.decodeIfPresent(Int.self, forKey: .inputs) ?? 0 : container.decode(Int.self, forKey: .inputs)
        hidden = try container.decodeIfPresent([Int].self, forKey: .hidden) ?? []
        outputs = try external ? container.decodeIfPresent(Int.self, forKey: .outputs) ?? 0 : container.decode(Int.self, forKey: .outputs)
        activation = try container.decodeIfPresent(Activation.self, forKey: .activation) ?? .relu
        scaling = try container.decodeIfPresent(FeatureScaling.self, forKey: .scaling)
        tensors = try container.decodeIfPresent([TensorSpec].self, forKey: .tensors)
        layers = try container.decodeIfPresent([LayerSpec].self, forKey: .layers)
        inputShape = try container.decodeIfPresent([Int].self, forKey: .inputShape)
        objective = try container.decodeIfPresent(Objective.self, forKey: .objective)
        anomalyQuantile = try container.decodeIfPresent(Double.self, forKey: .anomalyQuantile)
    }

    /// The spec as compact JSON with sorted keys (stored in model metadata).
    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// Parses and validates a spec from JSON (for example from model metadata).
    public static func parse(_ json: String) throws(CoreError) -> ModelSpec {
        let spec: ModelSpec
        do {
            spec = try JSONDecoder().decode(ModelSpec.self, from: Data(json.utf8))
        } catch {
            throw .invalidModel("model spec JSON is malformed: \(error)")
        }
        try spec.validate()
        return spec
    }
}

/// Any key of a JSON object, to find those a type does not know.
private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Throws unless every key of the decoder's object is in `known`: an unknown key is refused,
/// never ignored (a misspelt field would otherwise silently keep its default).
func refuseUnknownKeys(_ decoder: any Decoder, known: Set<String>) throws {
    let unknown = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue).filter { !known.contains($0) }
    guard unknown.isEmpty else {
        throw DecodingError.dataCorrupted(
            .init(
                codingPath: decoder.codingPath,
                debugDescription: "unknown key(s) \(unknown.sorted().joined(separator: ", ")) (known: \(known.sorted().joined(separator: ", ")))"))
    }
}
