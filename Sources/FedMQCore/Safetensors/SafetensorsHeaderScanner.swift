/// The quick way through a safetensors header: one pass over the bytes for the JSON that
/// FedMQ and other tools write (an object of tensor entries whose fields are strings and lists
/// of whole numbers, and a metadata object of strings). Anything else it leaves to
/// `JSONDecoder` by returning nil: other JSON values, duplicate keys, malformed JSON. Where it
/// answers, its answer is the one `JSONDecoder` gives, which `SafetensorsHeaderTests` checks on
/// thousands of damaged headers. It exists for speed: an agent reads a header every round and
/// the aggregator one per update, and `JSONDecoder` took 5% and 7.5% of their CPU.
struct SafetensorsHeaderScanner {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0

    private init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// The header in `bytes`, or nil when it is not in the subset this scanner reads.
    static func scan(_ bytes: ArraySlice<UInt8>) -> SafetensorsHeader? {
        bytes.withUnsafeBufferPointer { buffer in
            var scanner = SafetensorsHeaderScanner(buffer)
            return scanner.header()
        }
    }

    private mutating func header() -> SafetensorsHeader? {
        var metadata = SafetensorsHeader.RawMetadata.absent
        var entries: [(name: String, entry: SafetensorsHeader.RawEntry)] = []
        var names: Set<String> = []
        let complete = object { name, scanner in
            guard names.insert(name).inserted else { return false }
            if name == "__metadata__" {
                guard let values = scanner.metadata() else { return false }
                metadata = .values(values)
            } else {
                guard let entry = scanner.entry() else { return false }
                entries.append((name, entry))
            }
            return true
        }
        skipWhitespace()
        guard complete, position == bytes.count else { return nil }
        return SafetensorsHeader(metadata: metadata, entries: entries)
    }

    /// A metadata object whose values are all strings.
    private mutating func metadata() -> [String: String]? {
        var values: [String: String] = [:]
        let complete = object { key, scanner in
            guard values[key] == nil, let value = scanner.string() else { return false }
            values[key] = value
            return true
        }
        return complete ? values : nil
    }

    /// A tensor entry: an object whose fields are strings or lists of whole numbers; the
    /// three fields the decoder reads are kept when they have the type it wants.
    private mutating func entry() -> SafetensorsHeader.RawEntry? {
        var entry = SafetensorsHeader.RawEntry()
        entry.isObject = true
        var keys: Set<String> = []
        let complete = object { key, scanner in
            guard keys.insert(key).inserted else { return false }
            if scanner.peek == UInt8(ascii: "\"") {
                guard let text = scanner.string() else { return false }
                if key == "dtype" { entry.dtype = text }
            } else {
                guard let numbers = scanner.wholeNumbers() else { return false }
                if key == "shape" { entry.shape = numbers }
                if key == "data_offsets" { entry.dataOffsets = numbers }
            }
            return true
        }
        return complete ? entry : nil
    }

    /// `{ "key": value, ... }`, calling `member` at each value (white space skipped); false
    /// when the object is malformed or `member` declines.
    private mutating func object(_ member: (String, inout SafetensorsHeaderScanner) -> Bool) -> Bool {
        skipWhitespace()
        guard take(UInt8(ascii: "{")) else { return false }
        skipWhitespace()
        if take(UInt8(ascii: "}")) { return true }
        while true {
            skipWhitespace()
            guard let key = string() else { return false }
            skipWhitespace()
            guard take(UInt8(ascii: ":")) else { return false }
            skipWhitespace()
            guard member(key, &self) else { return false }
            skipWhitespace()
            if take(UInt8(ascii: "}")) { return true }
            guard take(UInt8(ascii: ",")) else { return false }
        }
    }

    /// `[n, ...]` of whole numbers from 0 to 10^15 written plainly (no sign, fraction or
    /// exponent), as doubles (exact at that size), as `JSONDecoder` gives them.
    private mutating func wholeNumbers() -> [Double]? {
        guard take(UInt8(ascii: "[")) else { return nil }
        var numbers: [Double] = []
        skipWhitespace()
        if take(UInt8(ascii: "]")) { return numbers }
        while true {
            skipWhitespace()
            let start = position
            var value = 0
            while let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                position += 1
                if position - start > 15 { return nil }
            }
            let digits = position - start
            guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
            numbers.append(Double(value))
            skipWhitespace()
            if take(UInt8(ascii: "]")) { return numbers }
            guard take(UInt8(ascii: ",")) else { return nil }
        }
    }

    /// A JSON string with its escapes resolved; nil for raw control characters, a lone
    /// surrogate or bytes that are not UTF-8.
    private mutating func string() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        var text: [UInt8] = []
        while let byte = peek {
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(validating: text, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let scalar = escape() else { return nil }
                text.append(contentsOf: String(scalar).utf8)
            case ..<0x20:
                return nil
            default:
                text.append(byte)
            }
        }
        return nil
    }

    /// The character after a backslash (already taken).
    private mutating func escape() -> Unicode.Scalar? {
        guard let byte = peek else { return nil }
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): return Unicode.Scalar(byte)
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            guard let first = hexQuad() else { return nil }
            guard (0xD800...0xDBFF).contains(first) else { return Unicode.Scalar(first) }
            guard take(UInt8(ascii: "\\")), take(UInt8(ascii: "u")), let second = hexQuad(), (0xDC00...0xDFFF).contains(second)
            else { return nil }
            return Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
        default: return nil
        }
    }

    private mutating func hexQuad() -> UInt32? {
        guard position + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = Self.hexValue(bytes[position]) else { return nil }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    private var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard peek == byte else { return false }
        position += 1
        return true
    }

    private mutating func skipWhitespace() {
        while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
    }
}
