import FoundationEssentials

/// One layer of a `sequential` model. Each corresponds to one module of a PyTorch
/// `nn.Sequential`, so a layer at index i owns the tensors `i.weight` and `i.bias` in
/// PyTorch's layouts, and a PyTorch model of the same layers has the same state dict.
public enum LayerSpec: Sendable, Equatable {
    /// `nn.Conv1d(channels, filters, kernel, stride, padding)`: weight (filters, channels, kernel), bias (filters).
    case conv1d(filters: Int, kernel: Int, stride: Int, padding: Int)
    /// `nn.MaxPool1d(size, stride)` over time.
    case maxPool(size: Int, stride: Int)
    /// `nn.AdaptiveAvgPool1d(1)`: each channel's mean over time (the output keeps a length of 1).
    case globalAveragePool
    /// `nn.Flatten()`: channels x length become one flat vector.
    case flatten
    /// `nn.Linear(inputs, units)` on a flat input: weight (units, inputs), bias (units).
    case dense(units: Int)
    /// A GRU over the input's time steps (each step a vector of its channels), giving its last
    /// hidden state, flat: PyTorch's `nn.GRU(channels, units, batch_first=True)` on the input
    /// transposed to (batch, time, channels), its `h_n[-1]`. Tensors `i.weight_ih_l0`
    /// (3·units, channels), `i.weight_hh_l0` (3·units, units), `i.bias_ih_l0`, `i.bias_hh_l0`
    /// (3·units), gates in PyTorch's order (reset, update, new).
    case gru(units: Int)
    /// An element-wise nonlinearity.
    case activation(ActivationFunction)
    /// `nn.Dropout(rate)`: zeroes each value with probability `rate` in training (scaling the
    /// rest by 1 / (1 − rate)); nothing in evaluation.
    case dropout(rate: Double)
    /// `nn.GroupNorm(groups, channels)`: each example's channels in `groups` groups, normalised
    /// over the group's values (no batch statistics, so it suits federated and DP training);
    /// weight and bias (channels).
    case groupNorm(groups: Int)
    /// Group normalization with one group: `nn.LayerNorm(channels)` on a flat input.
    case layerNorm

    /// The nonlinearities a sequential model offers (PyTorch's defaults: GELU with erf).
    public enum ActivationFunction: String, Sendable, CaseIterable {
        case relu, tanh, sigmoid, gelu
    }

    /// The layer's name in JSON (`"type"`).
    public var type: String {
        switch self {
        case .conv1d: "conv1d"
        case .maxPool: "max_pool"
        case .globalAveragePool: "global_avg_pool"
        case .flatten: "flatten"
        case .dense: "dense"
        case .gru: "gru"
        case .activation(let function): function.rawValue
        case .dropout: "dropout"
        case .groupNorm: "group_norm"
        case .layerNorm: "layer_norm"
        }
    }

    /// Every valid `"type"`.
    public static let types =
        ["conv1d", "max_pool", "global_avg_pool", "flatten", "dense", "gru", "dropout", "group_norm", "layer_norm"]
        + ActivationFunction.allCases.map(\.rawValue)
}

/// The shape of one example between layers: channels x length, or a flat vector (after
/// `flatten` or `dense`, or a model whose input is flat).
public struct ActivationShape: Sendable, Equatable, CustomStringConvertible {
    public var channels: Int
    public var length: Int
    public var flat: Bool

    /// Values per example.
    public var size: Int { channels * length }

    public var description: String { flat ? "[\(channels)]" : "[\(channels), \(length)]" }
}

extension LayerSpec {
    /// The shape this layer makes of `input`, or why it cannot take it (naming layer `index`).
    func output(of input: ActivationShape, index: Int) throws(CoreError) -> ActivationShape {
        func refuse(_ reason: String) -> CoreError { .invalidModel("layer \(index) (\(type)) \(reason)") }
        switch self {
        case .conv1d(let filters, let kernel, let stride, let padding):
            guard !input.flat else { throw refuse("needs channels x length, not the flat \(input): give input_shape [channels, length]") }
            guard filters >= 1, kernel >= 1, stride >= 1, padding >= 0, filters <= 1 << 16, kernel <= 1 << 16, padding < kernel else {
                throw refuse("needs filters, kernel and stride of at least 1 and 0 <= padding < kernel")
            }
            let span = input.length + 2 * padding - kernel
            guard span >= 0 else { throw refuse("kernel \(kernel) is longer than the input's \(input.length) (+ padding)") }
            return ActivationShape(channels: filters, length: span / stride + 1, flat: false)
        case .maxPool(let size, let stride):
            guard !input.flat else { throw refuse("needs channels x length, not the flat \(input)") }
            guard size >= 1, stride >= 1, size <= input.length else { throw refuse("needs 1 <= size <= \(input.length) and stride >= 1") }
            return ActivationShape(channels: input.channels, length: (input.length - size) / stride + 1, flat: false)
        case .globalAveragePool:
            guard !input.flat else { throw refuse("needs channels x length, not the flat \(input)") }
            return ActivationShape(channels: input.channels, length: 1, flat: false)
        case .flatten:
            return ActivationShape(channels: input.size, length: 1, flat: true)
        case .dense(let units):
            guard input.flat else { throw refuse("needs a flat input, not \(input): put a flatten before it") }
            guard units >= 1, units <= 1 << 20 else { throw refuse("needs 1 to \(1 << 20) units") }
            return ActivationShape(channels: units, length: 1, flat: true)
        case .gru(let units):
            guard !input.flat else { throw refuse("needs channels x time steps, not the flat \(input): give input_shape [channels, length]") }
            guard units >= 1, units <= 1 << 12 else { throw refuse("needs 1 to \(1 << 12) units") }
            return ActivationShape(channels: units, length: 1, flat: true)
        case .activation:
            return input
        case .dropout(let rate):
            guard rate >= 0, rate < 1 else { throw refuse("rate must lie in [0, 1), not \(rate)") }
            return input
        case .groupNorm(let groups):
            guard groups >= 1, input.channels % groups == 0 else { throw refuse("groups (\(groups)) must divide the \(input.channels) channels") }
            return input
        case .layerNorm:
            return input
        }
    }

    /// The values the layer keeps per example in training: its output, and a convolution's
    /// unfolded input or a GRU's gates at every step. Bounded by the spec's validation, so that a
    /// model that arrives over the network cannot make a device allocate without limit.
    func workingSize(for input: ActivationShape, output: ActivationShape) -> Int {
        switch self {
        case .conv1d(_, let kernel, _, _): output.size + output.length * input.channels * kernel
        case .gru(let units): output.size + 8 * input.length * units
        default: output.size + input.size
        }
    }

    /// The layer's tensors for `input`: `i.weight` and `i.bias` in PyTorch's layouts.
    func parameters(for input: ActivationShape, index: Int) -> [(name: String, shape: [Int])] {
        switch self {
        case .conv1d(let filters, let kernel, _, _): [("\(index).weight", [filters, input.channels, kernel]), ("\(index).bias", [filters])]
        case .dense(let units): [("\(index).weight", [units, input.size]), ("\(index).bias", [units])]
        case .groupNorm, .layerNorm: [("\(index).weight", [input.channels]), ("\(index).bias", [input.channels])]
        case .gru(let units):
            [
                ("\(index).weight_ih_l0", [3 * units, input.channels]), ("\(index).weight_hh_l0", [3 * units, units]),
                ("\(index).bias_ih_l0", [3 * units]), ("\(index).bias_hh_l0", [3 * units]),
            ]
        default: []
        }
    }

    /// The bound of PyTorch's default initialisation, U(−1/√fan_in, 1/√fan_in), for weights and
    /// biases of convolutions and dense layers (U(−1/√units, 1/√units) for a GRU's); nil for a
    /// normalization (weight 1, bias 0).
    func initialBound(for input: ActivationShape) -> Double? {
        switch self {
        case .conv1d(_, let kernel, _, _): 1 / Double(input.channels * kernel).squareRoot()
        case .dense: 1 / Double(input.size).squareRoot()
        case .gru(let units): 1 / Double(units).squareRoot()
        default: nil
        }
    }
}

// MARK: JSON

extension LayerSpec: Codable {
    private enum Keys: String, CodingKey, CaseIterable {
        case type, filters, kernel, stride, padding, size, units, rate, groups
    }

    /// `{"type": "conv1d", "filters": 8, "kernel": 5}` and so on; keys a layer does not take are
    /// refused, as are unknown types (naming the valid ones).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        let type = try container.decode(String.self, forKey: .type)
        let allowed: Set<String> =
            switch type {
            case "conv1d": ["type", "filters", "kernel", "stride", "padding"]
            case "max_pool": ["type", "size", "stride"]
            case "dense", "gru": ["type", "units"]
            case "dropout": ["type", "rate"]
            case "group_norm": ["type", "groups"]
            default: ["type"]
            }
        try refuseUnknownKeys(decoder, known: allowed)
        switch type {
        case "conv1d":
            self = .conv1d(
                filters: try container.decode(Int.self, forKey: .filters), kernel: try container.decode(Int.self, forKey: .kernel),
                stride: try container.decodeIfPresent(Int.self, forKey: .stride) ?? 1,
                padding: try container.decodeIfPresent(Int.self, forKey: .padding) ?? 0)
        case "max_pool":
            let size = try container.decode(Int.self, forKey: .size)
            self = .maxPool(size: size, stride: try container.decodeIfPresent(Int.self, forKey: .stride) ?? size)
        case "global_avg_pool": self = .globalAveragePool
        case "flatten": self = .flatten
        case "dense": self = .dense(units: try container.decode(Int.self, forKey: .units))
        case "gru": self = .gru(units: try container.decode(Int.self, forKey: .units))
        case "dropout": self = .dropout(rate: try container.decode(Double.self, forKey: .rate))
        case "group_norm": self = .groupNorm(groups: try container.decode(Int.self, forKey: .groups))
        case "layer_norm": self = .layerNorm
        default:
            guard let function = ActivationFunction(rawValue: type) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .type, in: container, debugDescription: "unknown layer type '\(type)' (valid: \(Self.types.joined(separator: ", ")))")
            }
            self = .activation(function)
        }
    }

    /// The layer's JSON form, every setting spelled out.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(type, forKey: .type)
        switch self {
        case .conv1d(let filters, let kernel, let stride, let padding):
            try container.encode(filters, forKey: .filters)
            try container.encode(kernel, forKey: .kernel)
            try container.encode(stride, forKey: .stride)
            try container.encode(padding, forKey: .padding)
        case .maxPool(let size, let stride):
            try container.encode(size, forKey: .size)
            try container.encode(stride, forKey: .stride)
        case .dense(let units), .gru(let units): try container.encode(units, forKey: .units)
        case .dropout(let rate): try container.encode(rate, forKey: .rate)
        case .groupNorm(let groups): try container.encode(groups, forKey: .groups)
        default: break
        }
    }
}
