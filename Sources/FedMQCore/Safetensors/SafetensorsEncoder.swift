import FoundationEssentials
import Glibc

/// Writes safetensors: 8-byte little-endian header length, a JSON header (`__metadata__`
/// first, then each tensor's dtype, shape and data_offsets), padded with spaces to a multiple
/// of 8, then the tensors' bytes in order.
public enum SafetensorsEncoder {
    /// Encodes `parameters` with `encoding`. For int8, a `stochasticRoundingSeed` rounds
    /// stochastically (unbiased); without one values round to nearest.
    public static func encode(
        _ parameters: Parameters, encoding: TensorEncoding = .float32, metadata: [String: String] = [:],
        stochasticRoundingSeed: UInt64? = nil
    ) -> [UInt8] {
        var writer = Writer(encoding: encoding, metadata: metadata, stochasticRoundingSeed: stochasticRoundingSeed)
        for tensor in parameters.tensors { writer.append(tensor.name, shape: tensor.shape, values: tensor.values) }
        return writer.finish()
    }

    /// Encodes a sparse delta: per tensor, its kept values as `<name>` (shape [k], in
    /// `encoding`) and their positions as `<name>.indices` (U32, shape [k]), with metadata
    /// `fedmq.sparsity` = `top-k`. With `bitmaps`, a tensor whose positions take fewer bytes
    /// as a bitmap sends them as `<name>.bitmap` (U8) instead.
    public static func encode(
        sparse: SparseParameters, encoding: TensorEncoding = .float32, metadata: [String: String] = [:],
        stochasticRoundingSeed: UInt64? = nil, bitmaps: Bool = false
    ) -> [UInt8] {
        var metadata = metadata
        metadata[SparseParameters.metadataKey] = SparseParameters.metadataValue
        var writer = Writer(encoding: encoding, metadata: metadata, stochasticRoundingSeed: stochasticRoundingSeed)
        for tensor in sparse.tensors {
            writer.append(tensor.name, shape: [tensor.values.count], values: tensor.values)
            if bitmaps, SparseIndexBitmap.isPreferred(for: tensor.indices) {
                let bitmap = SparseIndexBitmap.bitmap(of: tensor.indices)
                writer.append(tensor.name + SparseParameters.bitmapSuffix, blob: ByteBlob(shape: [bitmap.count], bytes: bitmap))
            } else {
                writer.append(tensor.name + SparseParameters.indicesSuffix, indices: tensor.indices)
            }
        }
        return writer.finish()
    }

    /// Encodes one 1-D U32 tensor (secure aggregation's words modulo 2^32).
    public static func encode(words: [UInt32], named name: String, metadata: [String: String] = [:]) -> [UInt8] {
        var writer = Writer(encoding: .float32, metadata: metadata, stochasticRoundingSeed: nil)
        writer.metadata["fedmq.encoding"] = nil  // no float tensor to describe
        writer.append(name, indices: words)
        return writer.finish()
    }

    /// Encodes U8 tensors (opaque bytes such as ciphertexts), in the order given.
    public static func encode(blobs: [(name: String, blob: ByteBlob)], metadata: [String: String] = [:]) -> [UInt8] {
        var writer = Writer(encoding: .float32, metadata: metadata, stochasticRoundingSeed: nil)
        writer.metadata["fedmq.encoding"] = nil  // no float tensor to describe
        for (name, blob) in blobs { writer.append(name, blob: blob) }
        return writer.finish()
    }

    private struct Writer {
        let encoding: TensorEncoding
        var metadata: [String: String]
        var random: SplitMix64?
        var data: [UInt8] = []
        var entries: [String] = []

        init(encoding: TensorEncoding, metadata: [String: String], stochasticRoundingSeed: UInt64?) {
            self.encoding = encoding
            self.metadata = metadata
            self.metadata["fedmq.encoding"] = encoding.rawValue
            random = stochasticRoundingSeed.map(SplitMix64.init(seed:))
        }

        mutating func append(_ name: String, shape: [Int], values: [Float]) {
            let begin = data.count
            switch encoding {
            case .float32:
                SafetensorsEncoder.appendLittleEndian(contentsOf: values.map(\.bitPattern), to: &data)
            case .float16:
                SafetensorsEncoder.appendLittleEndian(contentsOf: values.map { Float16($0).bitPattern }, to: &data)
            case .int8:
                let (quantized, scale) = if random != nil { Quantization.int8(values, stochastic: &random!) } else { Quantization.int8(values) }
                data.append(contentsOf: quantized.map { UInt8(bitPattern: $0) })
                metadata["fedmq.scale.\(name)"] = "\(scale)"
            }
            addEntry(name, dtype: encoding.dtype, shape: shape, begin: begin)
        }

        mutating func append(_ name: String, indices: [UInt32]) {
            let begin = data.count
            SafetensorsEncoder.appendLittleEndian(contentsOf: indices, to: &data)
            addEntry(name, dtype: SafetensorsFile.indexDType, shape: [indices.count], begin: begin)
        }

        mutating func append(_ name: String, blob: ByteBlob) {
            let begin = data.count
            data += blob.bytes
            addEntry(name, dtype: SafetensorsFile.blobDType, shape: blob.shape, begin: begin)
        }

        private mutating func addEntry(_ name: String, dtype: String, shape: [Int], begin: Int) {
            let shape = shape.map(String.init).joined(separator: ",")
            entries.append(
                "\(SafetensorsEncoder.jsonString(name)):{\"dtype\":\"\(dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(begin),\(data.count)]}")
        }

        func finish() -> [UInt8] {
            let metadataJSON = metadata.sorted { $0.key < $1.key }.map {
                "\(SafetensorsEncoder.jsonString($0.key)):\(SafetensorsEncoder.jsonString($0.value))"
            }
            var header = Array("{\"__metadata__\":{\(metadataJSON.joined(separator: ","))}".utf8)
            for entry in entries { header += Array(",\(entry)".utf8) }
            header.append(UInt8(ascii: "}"))
            while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
            var output: [UInt8] = []
            output.reserveCapacity(8 + header.count + data.count)
            SafetensorsEncoder.appendLittleEndian(UInt64(header.count), to: &output)
            output += header
            output += data
            return output
        }
    }

    private static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends every value little-endian: one copy of the array's memory on a little-endian
    /// machine, instead of one append per value.
    private static func appendLittleEndian<T: FixedWidthInteger>(contentsOf values: [T], to bytes: inout [UInt8]) {
        #if _endian(little)
            values.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
            for value in values { appendLittleEndian(value, to: &bytes) }
        #endif
    }

    /// A JSON string literal for `text`, with quotes, backslashes and control characters escaped.
    static func jsonString(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20: result += PrintfFormat.string("\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
