import FedMQProtocol

/// The accepted updates of one round (or asynchronous buffer), as records appended to
/// `spool/round-<r>.log`: a batch of updates costs one fsync (group commit) instead of a file,
/// an fsync and a rename each.
///
/// A record: "FMQS", the agent id's length (UInt16) and the payload's (UInt64), little-endian,
/// the agent id (UTF-8), the payload, and the sha256 (hex) of id and payload. A record that
/// keeps the agent's signature (homomorphic rounds hand it to the key holder) starts with
/// "FMQT" and has the signature's length (UInt16) after the id's, and the signature (base64)
/// after the id, inside the digest. A crash can leave a torn last record: reading stops at the
/// first incomplete or corrupt one, and the store cuts the file there before appending again.
public enum SpoolLog {
    static let magic: [UInt8] = Array("FMQS".utf8)
    static let signedMagic: [UInt8] = Array("FMQT".utf8)
    static let digestLength = 64

    /// One spooled update.
    public struct Record: Sendable, Equatable {
        public var agent: String
        public var payload: [UInt8]
        public var signature: String?
    }

    /// One record's bytes.
    public static func record(agent: String, payload: [UInt8], signature: String? = nil) -> [UInt8] {
        let id = Array(agent.utf8)
        let signed = signature.map { Array($0.utf8) }
        var bytes = signed == nil ? magic : signedMagic
        bytes += withUnsafeBytes(of: UInt16(id.count).littleEndian, Array.init)
        if let signed { bytes += withUnsafeBytes(of: UInt16(signed.count).littleEndian, Array.init) }
        bytes += withUnsafeBytes(of: UInt64(payload.count).littleEndian, Array.init)
        let body = id + (signed ?? []) + payload
        bytes += body
        bytes += Array(ModelCodec.sha256(body).utf8)
        return bytes
    }

    /// The complete, intact records at the start of `bytes`, and how many bytes they take.
    public static func records(in bytes: [UInt8]) -> (records: [Record], validLength: Int) {
        var records: [Record] = []
        var offset = 0
        func little<Value: FixedWidthInteger>(_ type: Value.Type, at position: Int) -> Value {
            bytes[position..<position + MemoryLayout<Value>.size].reversed().reduce(0) { $0 << 8 | Value($1) }
        }
        while offset + 4 <= bytes.count {
            let head = Array(bytes[offset..<offset + 4])
            let hasSignature = head == signedMagic
            guard hasSignature || head == magic else { break }
            let fixed = hasSignature ? 16 : 14
            guard offset + fixed <= bytes.count else { break }
            let idLength = Int(little(UInt16.self, at: offset + 4))
            let signatureLength = hasSignature ? Int(little(UInt16.self, at: offset + 6)) : 0
            let payloadLength = little(UInt64.self, at: offset + fixed - 8)
            let start = offset + fixed
            guard payloadLength <= UInt64(bytes.count),
                start + idLength + signatureLength + Int(payloadLength) + digestLength <= bytes.count
            else { break }
            let bodyEnd = start + idLength + signatureLength + Int(payloadLength)
            let body = Array(bytes[start..<bodyEnd])
            guard Array(bytes[bodyEnd..<bodyEnd + digestLength]) == Array(ModelCodec.sha256(body).utf8),
                let agent = String(validating: body[0..<idLength], as: UTF8.self),
                let signature = hasSignature ? String(validating: body[idLength..<idLength + signatureLength], as: UTF8.self) : ""
            else { break }
            records.append(Record(agent: agent, payload: Array(body[(idLength + signatureLength)...]), signature: hasSignature ? signature : nil))
            offset = bodyEnd + digestLength
        }
        return (records, offset)
    }
}
