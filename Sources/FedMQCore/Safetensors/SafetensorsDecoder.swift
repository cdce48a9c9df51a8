import FoundationEssentials
import Glibc

/// Reads safetensors, treating the input as hostile: every length, offset and shape is
/// checked before any tensor byte is read, and each failure has its own `SafetensorsError`.
public enum SafetensorsDecoder {
    private struct Entry {
        var name: String
        var content: Content
        var shape: [Int]
        var begin: Int
        var end: Int
    }

    /// What an entry's bytes hold.
    private enum Content {
        /// Float values in one of FedMQ's encodings.
        case values(TensorEncoding)
        /// A sparse tensor's positions (U32, 1-D).
        case index
        /// Opaque bytes (U8).
        case blob
        /// Floats of another framework's file, converted on reading (F64, BF16).
        case wideFloat(String)
        /// Another framework's non-float tensor (an integer step count, a mask): not read.
        case other(String)
    }

    /// Bytes per value of every dtype the safetensors format defines, for files from other tools.
    private static let foreignWidths: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8,
        "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
    ]

    /// Parses a safetensors file, refusing anything malformed or past `limits` with a named error.
    public static func decode(_ bytes: [UInt8], limits: SafetensorsLimits = .init()) throws(CoreError) -> SafetensorsFile {
        do {
            return try decodeChecked(bytes, limits: limits, foreign: false).file
        } catch {
            throw .safetensors(error)
        }
    }

    /// Parses a file written by another tool (PyTorch, Keras, numpy): float tensors of every
    /// width (F64, F32, F16, BF16) become float32 `tensors`; the others (integer buffers, masks,
    /// 8-bit floats) are listed in `skipped` with their dtypes, unread. Checked as strictly as
    /// `decode`.
    public static func decodeForeign(
        _ bytes: [UInt8], limits: SafetensorsLimits = .init(maxHeaderBytes: 16 << 20)
    ) throws(CoreError) -> (file: SafetensorsFile, skipped: [String: String]) {
        do {
            return try decodeChecked(bytes, limits: limits, foreign: true)
        } catch {
            throw .safetensors(error)
        }
    }

    private static func decodeChecked(
        _ bytes: [UInt8], limits: SafetensorsLimits, foreign: Bool
    ) throws(SafetensorsError) -> (file: SafetensorsFile, skipped: [String: String]) {
        guard bytes.count >= 8 else { throw .truncated(needed: 8, available: bytes.count) }
        let headerLength = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(limits.maxHeaderBytes) else {
            throw .headerTooLarge(length: headerLength, limit: limits.maxHeaderBytes)
        }
        let dataStart = 8 + Int(headerLength)
        guard bytes.count >= dataStart else { throw .truncated(needed: dataStart, available: bytes.count) }
        let header = try SafetensorsHeader.parse(bytes[8..<dataStart])
        let metadata = try readMetadata(header.metadata)
        let dataLength = bytes.count - dataStart
        if header.entries.count > limits.maxTensors { throw .invalidHeaderJSON("more than \(limits.maxTensors) tensors") }
        var entries: [Entry] = []
        for (name, raw) in header.entries {
            entries.append(try readEntry(name, raw, dataLength: dataLength, foreign: foreign))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var covered = 0
        for (index, entry) in entries.enumerated() {
            if entry.begin < covered { throw .overlappingRanges(entries[index - 1].name, entry.name) }
            if entry.begin > covered { throw .unindexedBytes(at: covered) }
            covered = entry.end
        }
        if covered != dataLength { throw .unindexedBytes(at: covered) }

        var tensors: [Tensor] = []
        var encodings: [String: TensorEncoding] = [:]
        var indices: [String: [UInt32]] = [:]
        var blobs: [String: ByteBlob] = [:]
        var skipped: [String: String] = [:]
        for entry in entries {
            let values: [Float]
            switch entry.content {
            case .blob:
                blobs[entry.name] = ByteBlob(shape: entry.shape, bytes: Array(bytes[dataStart + entry.begin..<dataStart + entry.end]))
                continue
            case .index:
                guard entry.shape.count == 1 else { throw .invalidEntry(tensor: entry.name, reason: "an index tensor must be 1-D") }
                indices[entry.name] = readIndices(entry, bytes: bytes, dataStart: dataStart)
                continue
            case .other(let dtype):
                skipped[entry.name] = dtype
                continue
            case .wideFloat(let dtype):
                values = readWideFloats(entry, dtype: dtype, bytes: bytes, dataStart: dataStart)
            case .values(let encoding):
                values = try readValues(entry, encoding: encoding, bytes: bytes, dataStart: dataStart, metadata: metadata)
                encodings[entry.name] = encoding
            }
            guard let tensor = try? Tensor(name: entry.name, shape: entry.shape, values: values) else {
                throw .invalidEntry(tensor: entry.name, reason: "shape \(entry.shape) does not match its data")
            }
            tensors.append(tensor)
        }
        return (SafetensorsFile(tensors: tensors, metadata: metadata, encodings: encodings, indices: indices, blobs: blobs), skipped)
    }

    private static func readMetadata(_ raw: SafetensorsHeader.RawMetadata) throws(SafetensorsError) -> [String: String] {
        switch raw {
        case .absent: return [:]
        case .notObject: throw .invalidMetadata("is not a JSON object")
        case .notString(let key): throw .invalidMetadata("value of '\(key)' is not a string")
        case .values(let metadata): return metadata
        }
    }

    private static func readEntry(
        _ name: String, _ raw: SafetensorsHeader.RawEntry, dataLength: Int, foreign: Bool
    ) throws(SafetensorsError) -> Entry {
        guard raw.isObject else { throw .invalidEntry(tensor: name, reason: "entry is not a JSON object") }
        guard let dtype = raw.dtype else { throw .invalidEntry(tensor: name, reason: "dtype is missing") }
        let content: Content
        let width: Int
        if foreign {
            guard let bytes = foreignWidths[dtype] else { throw .unsupportedDType(tensor: name, dtype: dtype) }
            switch dtype {
            case "F32", "F16": content = .values(TensorEncoding(dtype: dtype) ?? .float32)
            case "F64", "BF16": content = .wideFloat(dtype)
            default: content = .other(dtype)
            }
            width = bytes
        } else if let encoding = TensorEncoding(dtype: dtype) {
            (content, width) = (.values(encoding), encoding.bytesPerValue)
        } else if dtype == SafetensorsFile.blobDType {
            (content, width) = (.blob, 1)
        } else if dtype == SafetensorsFile.indexDType {
            (content, width) = (.index, 4)
        } else {
            throw .unsupportedDType(tensor: name, dtype: dtype)
        }
        guard let shape = integers(raw.shape), shape.allSatisfy({ $0 >= 0 }) else {
            throw .invalidEntry(tensor: name, reason: "shape is not a list of non-negative integers")
        }
        guard let offsets = integers(raw.dataOffsets), offsets.count == 2 else {
            throw .invalidEntry(tensor: name, reason: "data_offsets is not a pair of integers")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, end >= begin, end <= dataLength else {
            throw .offsetsOutOfBounds(tensor: name, begin: begin, end: end, dataLength: dataLength)
        }
        guard let count = Tensor.elementCount(shape) else { throw .invalidEntry(tensor: name, reason: "shape \(shape) overflows") }
        let (expected, overflow) = count.multipliedReportingOverflow(by: width)
        guard !overflow, expected == end - begin else {
            throw .byteLengthMismatch(tensor: name, expected: overflow ? Int.max : expected, actual: end - begin)
        }
        return Entry(name: name, content: content, shape: shape, begin: begin, end: end)
    }

    /// A JSON array of integers (rejecting fractions and absurd magnitudes).
    private static func integers(_ numbers: [Double]?) -> [Int]? {
        guard let numbers, numbers.count <= 64 else { return nil }
        guard numbers.allSatisfy({ $0 == $0.rounded() && abs($0) < 0x1p53 }) else { return nil }
        return numbers.map { Int($0) }
    }

    private static func readIndices(_ entry: Entry, bytes: [UInt8], dataStart: Int) -> [UInt32] {
        let start = dataStart + entry.begin
        return bytes.withUnsafeBytes { raw in
            (0..<(entry.end - entry.begin) / 4).map { raw.loadUnaligned(fromByteOffset: start + 4 * $0, as: UInt32.self).littleEndian }
        }
    }

    /// F64 or BF16 values as float32 (F64 rounds to nearest; BF16 is float32's upper half).
    private static func readWideFloats(_ entry: Entry, dtype: String, bytes: [UInt8], dataStart: Int) -> [Float] {
        let start = dataStart + entry.begin
        return bytes.withUnsafeBytes { raw -> [Float] in
            if dtype == "F64" {
                return (0..<(entry.end - entry.begin) / 8).map {
                    Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: start + 8 * $0, as: UInt64.self).littleEndian))
                }
            }
            return (0..<(entry.end - entry.begin) / 2).map {
                Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: start + 2 * $0, as: UInt16.self).littleEndian) << 16)
            }
        }
    }

    private static func readValues(
        _ entry: Entry, encoding: TensorEncoding, bytes: [UInt8], dataStart: Int, metadata: [String: String]
    ) throws(SafetensorsError) -> [Float] {
        let start = dataStart + entry.begin
        let count = (entry.end - entry.begin) / encoding.bytesPerValue
        var scale: Float = 1
        if encoding == .int8 {
            guard let text = metadata["fedmq.scale.\(entry.name)"] else { throw .missingScale(tensor: entry.name) }
            guard let value = Float(text), value.isFinite, value >= 0 else {
                throw .invalidMetadata("fedmq.scale.\(entry.name) = '\(text)' is not a finite, non-negative number")
            }
            scale = value
        }
        return bytes.withUnsafeBytes { raw -> [Float] in
            switch encoding {
            case .float32:
                #if _endian(little)
                    // The file's byte order is the machine's: one copy, not a load per value.
                    return [Float](unsafeUninitializedCapacity: count) { values, initialized in
                        UnsafeMutableRawBufferPointer(values).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[start..<start + 4 * count]))
                        initialized = count
                    }
                #else
                    return (0..<count).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: start + 4 * $0, as: UInt32.self).littleEndian) }
                #endif
            case .float16:
                return (0..<count).map {
                    Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: start + 2 * $0, as: UInt16.self).littleEndian))
                }
            case .int8:
                return (0..<count).map { Float(Int8(bitPattern: raw[start + $0])) * scale }
            }
        }
    }
}
