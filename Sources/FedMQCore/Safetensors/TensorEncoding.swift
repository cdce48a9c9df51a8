/// How tensors are stored on the wire.
///
/// `int8` is symmetric per-tensor quantization: scale = max|x| / 127, q = round(x / scale)
/// (or stochastic rounding), stored as I8 with the scale in metadata `fedmq.scale.<tensor>`;
/// a reader recovers x ≈ q * scale.
public enum TensorEncoding: String, Codable, Sendable, CaseIterable {
    case float32
    case float16
    case int8

    var dtype: String {
        switch self {
        case .float32: "F32"
        case .float16: "F16"
        case .int8: "I8"
        }
    }

    var bytesPerValue: Int {
        switch self {
        case .float32: 4
        case .float16: 2
        case .int8: 1
        }
    }

    init?(dtype: String) {
        guard let match = Self.allCases.first(where: { $0.dtype == dtype }) else { return nil }
        self = match
    }
}
