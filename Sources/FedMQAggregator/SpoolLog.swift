import FedMQProtocol

/// The accepted updates of one round (or asynchronous buffer), as records appended to
/// `spool/round-<r>.log`: a batch of updates costs one fsync (group commit) instead of a file,
/// an fsync and a rename each.
///
/// A record: "FMQS", the agent id's length (UInt16) and the payload's (UInt64), little-endian,
/// the agent id (UTF-8), the payload, and the sha256 (hex) of id and payload. A crash can leave
/// a torn last record: reading stops at the first incomplete or corrupt one, and the store cuts
/// the file there before appending again.
public enum SpoolLog {
    static let magic: [UInt8] = Array("FMQS".utf8)
    static let digestLength = 64

    /// One record's bytes.
    public static func record(agent: String, payload: [UInt8]) -> [UInt8] {
        let id = Array(agent.utf8)
        var bytes = magic
        bytes += withUnsafeBytes(of: UInt16(id.count).littleEndian, Array.init)
        bytes += withUnsafeBytes(of: UInt64(payload.count).littleEndian, Array.init)
        bytes += id
        bytes += payload
        bytes += Array(ModelCodec.sha256(id + payload).utf8)
        return bytes
    }

    /// The complete, intact records at the start of `bytes`, and how many bytes they take.
    public static func records(in bytes: [UInt8]) -> (records: [(agent: String, payload: [UInt8])], validLength: Int) {
        var records: [(agent: String, payload: [UInt8])] = []
        var offset = 0
        func little<Value: FixedWidthInteger>(_ type: Value.Type, at position: Int) -> Value {
            bytes[position..<position + MemoryLayout<Value>.size].reversed().reduce(0) { $0 << 8 | Value($1) }
        }
        while offset + 14 <= bytes.count, Array(bytes[offset..<offset + 4]) == magic {
            let idLength = Int(little(UInt16.self, at: offset + 4))
            let payloadLength = little(UInt64.self, at: offset + 6)
            let start = offset + 14
            guard payloadLength <= UInt64(bytes.count), start + idLength + Int(payloadLength) + digestLength <= bytes.count else { break }
            let id = Array(bytes[start..<start + idLength])
            let payload = Array(bytes[start + idLength..<start + idLength + Int(payloadLength)])
            let digestStart = start + idLength + Int(payloadLength)
            guard Array(bytes[digestStart..<digestStart + digestLength]) == Array(ModelCodec.sha256(id + payload).utf8),
                let agent = String(validating: id, as: UTF8.self)
            else { break }
            records.append((agent, payload))
            offset = digestStart + digestLength
        }
        return (records, offset)
    }
}
