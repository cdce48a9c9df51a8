import Foundation

/// Reads safetensors, treating the input as hostile: every length, offset and shape is
/// checked before any tensor byte is read, and each failure has its own `SafetensorsError`.
public enum SafetensorsDecoder {
    private struct Entry {
        var name: String
        /// nil for an index tensor (U32) or a byte blob (U8).
        var encoding: TensorEncoding?
        var isBlob = false
        var shape: [Int]
        var begin: Int
        var end: Int
    }

    /// Parses a safetensors file, refusing anything malformed or past `limits` with a named error.
    public static func decode(_ bytes: [UInt8], limits: SafetensorsLimits = .init()) throws(CoreError) -> SafetensorsFile {
        do {
            return try decodeChecked(bytes, limits: limits)
        } catch {
            throw .safetensors(error)
        }
    }

    private static func decodeChecked(_ bytes: [UInt8], limits: SafetensorsLimits) throws(SafetensorsError) -> SafetensorsFile {
        guard bytes.count >= 8 else { throw .truncated(needed: 8, available: bytes.count) }
        let headerLength = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(limits.maxHeaderBytes) else {
            throw .headerTooLarge(length: headerLength, limit: limits.maxHeaderBytes)
        }
        let dataStart = 8 + Int(headerLength)
        guard bytes.count >= dataStart else { throw .truncated(needed: dataStart, available: bytes.count) }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart]))
        } catch {
            throw .invalidHeaderJSON("\(error.localizedDescription)")
        }
        guard let header = json as? [String: Any] else { throw .invalidHeaderJSON("the header is not a JSON object") }
        let metadata = try readMetadata(header["__metadata__"])
        let dataLength = bytes.count - dataStart
        var entries: [Entry] = []
        for (name, value) in header where name != "__metadata__" {
            entries.append(try readEntry(name, value, dataLength: dataLength))
            if entries.count > limits.maxTensors { throw .invalidHeaderJSON("more than \(limits.maxTensors) tensors") }
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
        for entry in entries {
            if entry.isBlob {
                blobs[entry.name] = ByteBlob(shape: entry.shape, bytes: Array(bytes[dataStart + entry.begin..<dataStart + entry.end]))
                continue
            }
            guard let encoding = entry.encoding else {
                guard entry.shape.count == 1 else { throw .invalidEntry(tensor: entry.name, reason: "an index tensor must be 1-D") }
                indices[entry.name] = readIndices(entry, bytes: bytes, dataStart: dataStart)
                continue
            }
            let values = try readValues(entry, encoding: encoding, bytes: bytes, dataStart: dataStart, metadata: metadata)
            guard let tensor = try? Tensor(name: entry.name, shape: entry.shape, values: values) else {
                throw .invalidEntry(tensor: entry.name, reason: "shape \(entry.shape) does not match its data")
            }
            tensors.append(tensor)
            encodings[entry.name] = encoding
        }
        return SafetensorsFile(tensors: tensors, metadata: metadata, encodings: encodings, indices: indices, blobs: blobs)
    }

    private static func readMetadata(_ value: Any?) throws(SafetensorsError) -> [String: String] {
        guard let value else { return [:] }
        guard let object = value as? [String: Any] else { throw .invalidMetadata("is not a JSON object") }
        var metadata: [String: String] = [:]
        for (key, item) in object {
            guard let text = item as? String else { throw .invalidMetadata("value of '\(key)' is not a string") }
            metadata[key] = text
        }
        return metadata
    }

    private static func readEntry(_ name: String, _ value: Any, dataLength: Int) throws(SafetensorsError) -> Entry {
        guard let object = value as? [String: Any] else { throw .invalidEntry(tensor: name, reason: "entry is not a JSON object") }
        guard let dtype = object["dtype"] as? String else { throw .invalidEntry(tensor: name, reason: "dtype is missing") }
        let encoding = TensorEncoding(dtype: dtype)
        let isBlob = dtype == SafetensorsFile.blobDType
        guard encoding != nil || isBlob || dtype == SafetensorsFile.indexDType else { throw .unsupportedDType(tensor: name, dtype: dtype) }
        guard let shape = integers(object["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
            throw .invalidEntry(tensor: name, reason: "shape is not a list of non-negative integers")
        }
        guard let offsets = integers(object["data_offsets"]), offsets.count == 2 else {
            throw .invalidEntry(tensor: name, reason: "data_offsets is not a pair of integers")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, end >= begin, end <= dataLength else {
            throw .offsetsOutOfBounds(tensor: name, begin: begin, end: end, dataLength: dataLength)
        }
        guard let count = Tensor.elementCount(shape) else { throw .invalidEntry(tensor: name, reason: "shape \(shape) overflows") }
        let (expected, overflow) = count.multipliedReportingOverflow(by: encoding?.bytesPerValue ?? (isBlob ? 1 : 4))
        guard !overflow, expected == end - begin else {
            throw .byteLengthMismatch(tensor: name, expected: overflow ? Int.max : expected, actual: end - begin)
        }
        return Entry(name: name, encoding: encoding, isBlob: isBlob, shape: shape, begin: begin, end: end)
    }

    /// A JSON array of integers (rejecting fractions and absurd magnitudes).
    private static func integers(_ value: Any?) -> [Int]? {
        guard let array = value as? [Any], array.count <= 64 else { return nil }
        var result: [Int] = []
        for item in array {
            guard let number = item as? NSNumber else { return nil }
            let double = number.doubleValue
            guard double == double.rounded(), abs(double) < 0x1p53 else { return nil }
            result.append(number.intValue)
        }
        return result
    }

    private static func readIndices(_ entry: Entry, bytes: [UInt8], dataStart: Int) -> [UInt32] {
        let start = dataStart + entry.begin
        return bytes.withUnsafeBytes { raw in
            (0..<(entry.end - entry.begin) / 4).map { raw.loadUnaligned(fromByteOffset: start + 4 * $0, as: UInt32.self).littleEndian }
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
                return (0..<count).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: start + 4 * $0, as: UInt32.self).littleEndian) }
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
