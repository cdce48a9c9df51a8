import Foundation

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
        var random = stochasticRoundingSeed.map(SplitMix64.init(seed:))
        var metadata = metadata
        metadata["fedmq.encoding"] = encoding.rawValue
        var data: [UInt8] = []
        data.reserveCapacity(parameters.count * encoding.bytesPerValue)
        var entries: [String] = []
        for tensor in parameters.tensors {
            let begin = data.count
            switch encoding {
            case .float32:
                for value in tensor.values { appendLittleEndian(value.bitPattern, to: &data) }
            case .float16:
                for value in tensor.values { appendLittleEndian(Float16(value).bitPattern, to: &data) }
            case .int8:
                let (quantized, scale) =
                    if random != nil { Quantization.int8(tensor.values, stochastic: &random!) } else { Quantization.int8(tensor.values) }
                data.append(contentsOf: quantized.map { UInt8(bitPattern: $0) })
                metadata["fedmq.scale.\(tensor.name)"] = "\(scale)"
            }
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append(
                "\(jsonString(tensor.name)):{\"dtype\":\"\(encoding.dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(begin),\(data.count)]}")
        }
        let metadataJSON = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
        var header = Array("{\"__metadata__\":{\(metadataJSON.joined(separator: ","))}".utf8)
        for entry in entries { header += Array(",\(entry)".utf8) }
        header.append(UInt8(ascii: "}"))
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        var output: [UInt8] = []
        output.reserveCapacity(8 + header.count + data.count)
        appendLittleEndian(UInt64(header.count), to: &output)
        output += header
        output += data
        return output
    }

    private static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
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
            case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
