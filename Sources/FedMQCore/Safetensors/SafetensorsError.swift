/// Why a safetensors payload was refused. Each is distinct so that callers (and the
/// aggregator's rejection counters) can tell a truncated upload from a forged header.
public enum SafetensorsError: Error, Sendable, Equatable, CustomStringConvertible {
    case truncated(needed: Int, available: Int)
    case headerTooLarge(length: UInt64, limit: Int)
    case invalidHeaderJSON(String)
    case invalidEntry(tensor: String, reason: String)
    case unsupportedDType(tensor: String, dtype: String)
    case offsetsOutOfBounds(tensor: String, begin: Int, end: Int, dataLength: Int)
    case overlappingRanges(String, String)
    /// Bytes of the data section that no tensor covers (a hole, or trailing bytes).
    case unindexedBytes(at: Int)
    case byteLengthMismatch(tensor: String, expected: Int, actual: Int)
    case invalidMetadata(String)
    case missingScale(tensor: String)

    public var description: String {
        switch self {
        case .truncated(let needed, let available): "payload truncated: needs \(needed) bytes, has \(available)"
        case .headerTooLarge(let length, let limit): "header length \(length) exceeds the limit of \(limit) bytes"
        case .invalidHeaderJSON(let reason): "header is not valid JSON: \(reason)"
        case .invalidEntry(let tensor, let reason): "tensor '\(tensor)': \(reason)"
        case .unsupportedDType(let tensor, let dtype): "tensor '\(tensor)': dtype '\(dtype)' is not F32, F16, I8, U32 (indices) or U8 (bytes)"
        case .offsetsOutOfBounds(let tensor, let begin, let end, let length):
            "tensor '\(tensor)': data_offsets [\(begin), \(end)] outside the \(length)-byte data section"
        case .overlappingRanges(let first, let second): "tensors '\(first)' and '\(second)' overlap"
        case .unindexedBytes(let offset): "data section has bytes no tensor covers, at offset \(offset)"
        case .byteLengthMismatch(let tensor, let expected, let actual):
            "tensor '\(tensor)': shape and dtype need \(expected) bytes, data_offsets give \(actual)"
        case .invalidMetadata(let reason): "__metadata__: \(reason)"
        case .missingScale(let tensor): "tensor '\(tensor)' is I8 but metadata has no fedmq.scale.\(tensor)"
        }
    }
}
