/// Named byte strings in one buffer: per section a name length (UInt8), the name, a length
/// (UInt32 LE) and the bytes.
public enum StateSections {
    /// The sections in order, each with its name (at most 255 bytes of UTF-8).
    public static func encode(_ sections: [(String, [UInt8])]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(sections.reduce(0) { $0 + 5 + $1.0.utf8.count + $1.1.count })
        for (name, section) in sections {
            bytes.append(UInt8(name.utf8.count))
            bytes += name.utf8
            withUnsafeBytes(of: UInt32(section.count).littleEndian) { bytes += $0 }
            bytes += section
        }
        return bytes
    }

    /// How many bytes `encode` gives a section named `name` holding `count` bytes.
    public static func encodedLength(name: String, count: Int) -> Int { 1 + name.utf8.count + 4 + count }

    /// The sections by name; nil when the buffer does not parse.
    public static func decode(_ bytes: [UInt8]) -> [String: [UInt8]]? {
        var sections: [String: [UInt8]] = [:]
        var at = 0
        while at < bytes.count {
            let nameEnd = at + 1 + Int(bytes[at])
            guard nameEnd + 4 <= bytes.count else { return nil }
            let name = String(decoding: bytes[at + 1..<nameEnd], as: UTF8.self)
            let length = bytes[nameEnd..<nameEnd + 4].reversed().reduce(0) { $0 << 8 | Int($1) }
            guard length <= bytes.count - nameEnd - 4 else { return nil }
            sections[name] = Array(bytes[nameEnd + 4..<nameEnd + 4 + length])
            at = nameEnd + 4 + length
        }
        return sections
    }
}
