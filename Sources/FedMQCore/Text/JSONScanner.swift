/// One pass over JSON bytes, for the quick decoders of the messages read every round
/// (`SafetensorsHeaderScanner`, `RoundAnnouncementScanner`, `AgentStatusScanner`): the
/// grammar's pieces, each giving nil (or false) where the JSON is malformed or not of the plain
/// kind a quick decoder reads.
/// A quick decoder then answers nil and its caller asks `JSONDecoder`, which gives the error
/// or reads what is unusual; where a quick decoder answers, its answer is `JSONDecoder`'s,
/// which each one's tests check on thousands of damaged messages.
package struct JSONScanner {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0

    package init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// `payload` as one JSON object (and nothing after it) read member by member into a fresh
    /// `Fields`; nil where it is malformed or `Fields` declines a member.
    package static func fields<Fields: JSONObjectFields>(of payload: [UInt8], as _: Fields.Type = Fields.self) -> Fields? {
        payload.withUnsafeBufferPointer { buffer in
            var scanner = JSONScanner(buffer)
            var fields = Fields()
            guard scanner.object({ key, scanner in fields.read(key, &scanner) }), scanner.atEnd() else { return nil }
            return fields
        }
    }

    /// Keeps `value` in `field` for a quick decoder; false for a value not read or a field set
    /// before (a key seen twice, which it leaves to `JSONDecoder`).
    package static func keepFirst<Value>(_ value: Value?, in field: inout Value?) -> Bool {
        guard field == nil, let value else { return false }
        field = value
        return true
    }

    /// Whether only white space is left.
    package mutating func atEnd() -> Bool {
        skipWhitespace()
        return position == bytes.count
    }

    /// `{ "key": value, ... }`, calling `member` at each value (white space skipped); false
    /// when the object is malformed or `member` declines.
    package mutating func object(_ member: (String, inout JSONScanner) -> Bool) -> Bool {
        enclosed(UInt8(ascii: "{"), UInt8(ascii: "}")) { scanner in
            guard let key = scanner.string() else { return false }
            scanner.skipWhitespace()
            guard scanner.take(UInt8(ascii: ":")) else { return false }
            scanner.skipWhitespace()
            return member(key, &scanner)
        }
    }

    /// `[value, ...]`, calling `element` at each value; false when the list is malformed or
    /// `element` declines.
    package mutating func array(_ element: (inout JSONScanner) -> Bool) -> Bool {
        enclosed(UInt8(ascii: "["), UInt8(ascii: "]"), element)
    }

    /// `open`, then `element`s separated by commas, then `close`.
    private mutating func enclosed(_ open: UInt8, _ close: UInt8, _ element: (inout JSONScanner) -> Bool) -> Bool {
        skipWhitespace()
        guard take(open) else { return false }
        skipWhitespace()
        if take(close) { return true }
        while true {
            skipWhitespace()
            guard element(&self) else { return false }
            skipWhitespace()
            if take(close) { return true }
            guard take(UInt8(ascii: ",")) else { return false }
        }
    }

    /// A list of strings.
    package mutating func strings() -> [String]? {
        var values: [String] = []
        let complete = array { scanner in
            guard let value = scanner.string() else { return false }
            values.append(value)
            return true
        }
        return complete ? values : nil
    }

    /// A JSON string with its escapes resolved; nil for raw control characters, a lone
    /// surrogate or bytes that are not UTF-8.
    package mutating func string() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        // Most strings have no escapes: made straight from the bytes between the quotes.
        let start = position
        while let byte = peek, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\"), byte >= 0x20 { position += 1 }
        if peek == UInt8(ascii: "\"") {
            position += 1
            return String(validating: UnsafeBufferPointer(rebasing: bytes[start..<position - 1]), as: UTF8.self)
        }
        var text = Array(bytes[start..<position])
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

    /// A whole number written plainly (an optional minus, then at most 18 digits without a
    /// leading zero; not "-0"): nil for fractions and exponents, which `JSONDecoder` reads
    /// its own way.
    package mutating func integer() -> Int? {
        let negative = take(UInt8(ascii: "-"))
        let start = position
        var value = 0
        while let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            // Counted before the digit goes in: 18 nines fit in Int, 19 would overflow.
            guard position - start < 18 else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            position += 1
        }
        let digits = position - start
        guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0"), !(negative && value == 0) else { return nil }
        return negative ? -value : value
    }

    /// A number in JSON's grammar as a finite Double, rounded correctly from its decimal
    /// digits as `JSONDecoder` rounds it; nil past Double's range and for a number that
    /// rounds to a subnormal or underflows to zero (`JSONDecoder` refuses "1e-400").
    package mutating func double() -> Double? {
        guard let text = numberText(), let value = Double(text), value.isNormal || Self.isZero(value, written: text) else { return nil }
        return value
    }

    /// A number as a Float: nil unless rounding its digits to Float directly and by way of
    /// Double agree (so either way of reading it gives this Float) and the Float is zero
    /// only for a zero written as one and otherwise normal.
    package mutating func float() -> Float? {
        guard let text = numberText(), let wide = Double(text), wide.isFinite, let direct = Float(text) else { return nil }
        guard direct == Float(wide), direct.isNormal || Self.isZero(wide, written: text) else { return nil }
        return direct
    }

    /// Whether `value`, read from `text`, is a zero written as one: `numberText` leaves every
    /// zero with an exponent to JSONDecoder, so a zero read from text with an exponent
    /// underflowed (which JSONDecoder refuses).
    private static func isZero(_ value: Double, written text: String) -> Bool {
        value == 0 && !text.contains { $0 == "e" || $0 == "E" }
    }

    /// `true` or `false`.
    package mutating func bool() -> Bool? {
        if literal("true") { return true }
        if literal("false") { return false }
        return nil
    }

    /// The next byte that is not white space, not taken.
    package mutating func peekValue() -> UInt8? {
        skipWhitespace()
        return peek
    }

    /// The text of a number in JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?,
    /// at most 64 bytes of it.
    private mutating func numberText() -> String? {
        let start = position
        _ = take(UInt8(ascii: "-"))
        guard let first = peek, isDigit(first) else { return nil }
        position += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if take(UInt8(ascii: ".")) {
            guard let byte = peek, isDigit(byte) else { return nil }
            skipDigits()
        }
        if take(UInt8(ascii: "e")) || take(UInt8(ascii: "E")) {
            // JSONDecoder refuses some zeros with exponents ("0e1", "0.00e18"; not "0e+1" or
            // "0.0e18"): a zero with an exponent is left to it.
            guard bytes[start..<position].contains(where: { $0 >= UInt8(ascii: "1") && $0 <= UInt8(ascii: "9") }) else { return nil }
            if !take(UInt8(ascii: "+")) { _ = take(UInt8(ascii: "-")) }
            guard let byte = peek, isDigit(byte) else { return nil }
            skipDigits()
        }
        guard position - start <= 64 else { return nil }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func skipDigits() {
        while let byte = peek, isDigit(byte) { position += 1 }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let length = word.utf8CodeUnitCount
        guard position + length <= bytes.count else { return false }
        for offset in 0..<length where bytes[position + offset] != word.utf8Start[offset] { return false }
        position += length
        return true
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

/// What a quick decoder collects from a JSON object's members before it builds its message.
package protocol JSONObjectFields {
    init()
    /// Reads the value of `key`; false to decline it (unknown, repeated, or not of the plain kind).
    mutating func read(_ key: String, _ scanner: inout JSONScanner) -> Bool
}
