/// The one error type of FedMQCore. Every case names what was wrong and where.
public enum CoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Two tensors that must agree do not: `tensor` and the two shapes.
    case shapeMismatch(tensor: String, expected: [Int], actual: [Int])
    /// Two parameter sets do not hold the same tensors.
    case tensorSetMismatch(expected: [String], actual: [String])
    /// A model spec or setting is not usable.
    case invalidModel(String)
    /// A training or evaluation setting or input is not usable.
    case invalidTraining(String)
    /// A data file is malformed: file, 1-based line and column, and what is wrong.
    case malformedData(file: String, line: Int, column: Int, reason: String)
    /// A data set or partitioning request is not usable.
    case invalidData(String)
    /// A file could not be read or written.
    case io(path: String, reason: String)
    /// A safetensors payload is malformed; see `SafetensorsError`.
    case safetensors(SafetensorsError)
    /// A sparse tensor's indices or values do not fit its dense tensor.
    case invalidSparseTensor(tensor: String, reason: String)
    /// An analytics query is not usable: which one (its text form; empty for the job's own
    /// settings) and why.
    case invalidQuery(query: String, reason: String)

    public var description: String {
        switch self {
        case .shapeMismatch(let tensor, let expected, let actual):
            "tensor '\(tensor)': shape \(actual) does not match \(expected)"
        case .tensorSetMismatch(let expected, let actual):
            "tensors \(actual) do not match the model's \(expected)"
        case .invalidModel(let text): "invalid model: \(text)"
        case .invalidTraining(let text): "invalid training setting: \(text)"
        case .malformedData(let file, let line, let column, let reason): "\(file):\(line):\(column): \(reason)"
        case .invalidData(let text): "invalid data: \(text)"
        case .io(let path, let reason): "\(path): \(reason)"
        case .safetensors(let error): "safetensors: \(error)"
        case .invalidSparseTensor(let tensor, let reason): "sparse tensor '\(tensor)': \(reason)"
        case .invalidQuery(let query, let reason): query.isEmpty ? "analytics: \(reason)" : "analytics query '\(query)': \(reason)"
        }
    }
}
