/// One tensor of an external model: its name and shape. Values travel as float32 (F16 or int8
/// when an encoding asks for it); a framework's integer buffers (a batch norm's step count,
/// say) stay with the trainer.
public struct TensorSpec: Codable, Sendable, Equatable {
    public var name: String
    public var shape: [Int]

    /// A tensor `name` of `shape`.
    public init(name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, shape
    }

    /// Both keys are required; any other (a `dtype`, say) is refused.
    public init(from decoder: any Decoder) throws {
        try refuseUnknownKeys(decoder, known: Set(CodingKeys.allCases.map(\.rawValue)))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        shape = try container.decode([Int].self, forKey: .shape)
    }
}

extension ModelSpec {
    /// The most tensors and values an external model may have (the native limits' order).
    static let externalTensorLimit = 4096
    static let externalValueLimit = 1 << 28

    /// An `external` model of these tensors, in wire order. `inputs` (features per row) and
    /// `outputs` (classes) are for its trainer; 0 when they do not apply.
    public init(external tensors: [TensorSpec], inputs: Int = 0, outputs: Int = 0, scaling: FeatureScaling? = nil) {
        self.init(kind: .external, inputs: inputs, outputs: outputs, scaling: scaling)
        self.tensors = tensors
    }

    /// Checks an external spec: at least one tensor, distinct names of reasonable length, and
    /// shapes that are non-empty lists of positive sizes within the limits.
    func validateExternal() throws(CoreError) {
        guard kind == .external else { throw .invalidModel("only an external model lists its tensors (this is \(kind.rawValue))") }
        guard layers == nil, inputShape == nil else { throw .invalidModel("an external model has no 'layers' or 'input_shape'") }
        guard let tensors, !tensors.isEmpty else { throw .invalidModel("an external model needs 'tensors': a list of {name, shape}") }
        guard tensors.count <= Self.externalTensorLimit else {
            throw .invalidModel("an external model may have at most \(Self.externalTensorLimit) tensors, not \(tensors.count)")
        }
        guard hidden.isEmpty, activation == .relu else { throw .invalidModel("an external model has no 'hidden' or 'activation'") }
        guard inputs >= 0, outputs >= 0, inputs <= 1 << 24, outputs <= 1 << 20 else {
            throw .invalidModel("inputs (\(inputs)) and outputs (\(outputs)) of an external model must be 0 (unused) or positive")
        }
        var names = Set<String>()
        var total = 0
        for tensor in tensors {
            guard !tensor.name.isEmpty, tensor.name.utf8.count <= 256, !tensor.name.hasPrefix("__") else {
                throw .invalidModel("tensor name '\(tensor.name.prefix(60))' must be 1 to 256 bytes and not start with '__'")
            }
            guard names.insert(tensor.name).inserted else { throw .invalidModel("tensor '\(tensor.name)' is listed twice") }
            guard !tensor.shape.isEmpty, tensor.shape.count <= 8, tensor.shape.allSatisfy({ $0 >= 1 && $0 <= Self.externalValueLimit }),
                let count = Tensor.elementCount(tensor.shape), count <= Self.externalValueLimit - total
            else {
                throw .invalidModel(
                    "tensor '\(tensor.name)': shape \(tensor.shape) must have 1 to 8 positive sizes, and the model at most \(Self.externalValueLimit) values"
                )
            }
            total += count
        }
        if let scaling, inputs == 0 || scaling.mean.count != inputs || scaling.std.count != inputs {
            throw .invalidModel("feature scaling of an external model needs 'inputs' and \(inputs) means and stds (it has \(scaling.mean.count))")
        }
    }

    /// The dense kinds encode every field; sequential and external ones only what applies to them.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(version, forKey: .version)
        try container.encode(kind.rawValue, forKey: .kind)
        try container.encodeIfPresent(scaling, forKey: .scaling)
        if kind == .sequential {
            try container.encode(inputs, forKey: .inputs)
            try container.encode(outputs, forKey: .outputs)
            try container.encodeIfPresent(layers, forKey: .layers)
            try container.encodeIfPresent(inputShape, forKey: .inputShape)
            try container.encodeIfPresent(objective, forKey: .objective)
            try container.encodeIfPresent(anomalyQuantile, forKey: .anomalyQuantile)
            return
        }
        guard kind == .external else {
            try container.encode(inputs, forKey: .inputs)
            try container.encode(hidden, forKey: .hidden)
            try container.encode(outputs, forKey: .outputs)
            try container.encode(activation, forKey: .activation)
            return
        }
        try container.encodeIfPresent(tensors, forKey: .tensors)
        if inputs > 0 { try container.encode(inputs, forKey: .inputs) }
        if outputs > 0 { try container.encode(outputs, forKey: .outputs) }
    }
}
