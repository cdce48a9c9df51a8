/// Compact JSON written by hand for what an agent writes every round (its status, its record
/// of served rounds), byte for byte as `JSONEncoder` with sorted keys and unescaped slashes
/// writes it, without the encoder's generic machinery (a tenth of an agent's CPU in a round of
/// the shared task). The caller writes an object's keys in sorted order; each message's tests
/// hold its bytes to `JSONEncoder`'s.
package struct JSONWriter {
    package private(set) var bytes: [UInt8] = []
    /// Whether the next member or element follows another (and takes a comma).
    private var follows = false

    package init() {
        bytes.reserveCapacity(256)
    }

    /// `{`, the members `body` writes, `}`.
    package mutating func object(_ body: (inout JSONWriter) -> Void) {
        enclosed(UInt8(ascii: "{"), UInt8(ascii: "}"), body)
    }

    /// `[`, the elements `body` writes, `]`.
    package mutating func array(_ body: (inout JSONWriter) -> Void) {
        enclosed(UInt8(ascii: "["), UInt8(ascii: "]"), body)
    }

    private mutating func enclosed(_ open: UInt8, _ close: UInt8, _ body: (inout JSONWriter) -> Void) {
        separate()
        bytes.append(open)
        follows = false
        body(&self)
        bytes.append(close)
        follows = true
    }

    /// A member's key; its value comes next.
    package mutating func key(_ name: String) {
        string(name)
        bytes.append(UInt8(ascii: ":"))
        follows = false
    }

    /// A string, escaped as `JSONEncoder` escapes it: quote, backslash and control characters.
    package mutating func string(_ text: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), byte]
            case 0x08: bytes += Array("\\b".utf8)
            case 0x0C: bytes += Array("\\f".utf8)
            case 0x0A: bytes += Array("\\n".utf8)
            case 0x0D: bytes += Array("\\r".utf8)
            case 0x09: bytes += Array("\\t".utf8)
            case ..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                bytes += Array("\\u00".utf8) + [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
        follows = true
    }

    package mutating func integer(_ value: Int) {
        separate()
        bytes += Array(String(value).utf8)
        follows = true
    }

    /// A finite number as `JSONEncoder` writes it (the shortest digits that read back as it,
    /// without a trailing ".0"); false, writing nothing, for NaN and infinities.
    package mutating func double(_ value: Double) -> Bool {
        guard value.isFinite else { return false }
        separate()
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes += Array(text.utf8)
        follows = true
        return true
    }

    /// `key` and a finite number, when there is a number; false (writing nothing) for NaN and infinities.
    package mutating func member(_ key: String, _ value: Double?) -> Bool {
        guard let value else { return true }
        guard value.isFinite else { return false }
        self.key(key)
        return double(value)
    }

    /// `key` and a whole number, when there is one.
    package mutating func member(_ key: String, _ value: Int?) {
        guard let value else { return }
        self.key(key)
        integer(value)
    }

    /// `key` and a string, when there is one.
    package mutating func member(_ key: String, _ value: String?) {
        guard let value else { return }
        self.key(key)
        string(value)
    }

    private mutating func separate() {
        if follows { bytes.append(UInt8(ascii: ",")) }
    }
}
