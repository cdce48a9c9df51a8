import FedMQProtocol
import FedMQRuntime

/// The accepted updates of one round (or asynchronous buffer), as records appended to
/// `spool/round-<r>.log`: a batch of updates costs one write and one fsync (group commit)
/// instead of a file, an fsync and a rename each.
///
/// A record: "FMQX", the agent id's length (UInt16) and the payload's (UInt64), little-endian,
/// the agent id (UTF-8), the payload, and the XXH64 (UInt64, little-endian) of id and payload.
/// A record that keeps the agent's signature (homomorphic rounds hand it to the key holder)
/// starts with "FMQY" and has the signature's length (UInt16) after the id's, and the signature
/// (base64) after the id, inside the checksum. Logs written before the checksum was XXH64 hold
/// "FMQS" and "FMQT" records, alike but closed by the sha256 (64 hex digits) of their body; they
/// are still read, so an upgrade in the middle of a round loses nothing. A crash can leave a
/// torn last record: reading stops at the first incomplete or corrupt one, and the store cuts
/// the file there before appending again.
public enum SpoolLog {
    /// One spooled update.
    public struct Record: Sendable, Equatable {
        public var agent: String
        public var payload: [UInt8]
        public var signature: String?
    }

    /// How a record is closed: by the checksum this version writes, or the sha256 of old logs.
    private enum Format: CaseIterable {
        case xxhash, xxhashSigned, sha256, sha256Signed

        var magic: [UInt8] {
            switch self {
            case .xxhash: Array("FMQX".utf8)
            case .xxhashSigned: Array("FMQY".utf8)
            case .sha256: Array("FMQS".utf8)
            case .sha256Signed: Array("FMQT".utf8)
            }
        }
        var signed: Bool { self == .xxhashSigned || self == .sha256Signed }
        var checksumLength: Int { self == .xxhash || self == .xxhashSigned ? 8 : 64 }
        /// Magic, lengths.
        var fixedLength: Int { signed ? 16 : 14 }

        func checksum(_ body: ArraySlice<UInt8>) -> [UInt8] {
            switch self {
            case .xxhash, .xxhashSigned: withUnsafeBytes(of: XXHash64.hash(body).littleEndian, Array.init)
            case .sha256, .sha256Signed: Array(ModelCodec.sha256(Array(body)).utf8)
            }
        }
    }

    /// One record's bytes.
    public static func record(agent: String, payload: [UInt8], signature: String? = nil) -> [UInt8] {
        var bytes: [UInt8] = []
        append(agent: agent, payload: payload, signature: signature, to: &bytes)
        return bytes
    }

    /// Appends one record's bytes to `bytes` (a batch of records written at once).
    public static func append(agent: String, payload: [UInt8], signature: String?, to bytes: inout [UInt8]) {
        let format: Format = signature == nil ? .xxhash : .xxhashSigned
        let id = Array(agent.utf8)
        let signed = signature.map { Array($0.utf8) } ?? []
        // Only a fresh buffer is sized exactly: sizing one that grows record by record would defeat its doubling.
        if bytes.isEmpty { bytes.reserveCapacity(format.fixedLength + id.count + signed.count + payload.count + format.checksumLength) }
        bytes += format.magic
        bytes += withUnsafeBytes(of: UInt16(id.count).littleEndian, Array.init)
        if format.signed { bytes += withUnsafeBytes(of: UInt16(signed.count).littleEndian, Array.init) }
        bytes += withUnsafeBytes(of: UInt64(payload.count).littleEndian, Array.init)
        let bodyStart = bytes.count
        bytes += id
        bytes += signed
        bytes += payload
        bytes += format.checksum(bytes[bodyStart...])
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
            guard let format = Format.allCases.first(where: { $0.magic == head }), offset + format.fixedLength <= bytes.count else { break }
            let idLength = Int(little(UInt16.self, at: offset + 4))
            let signatureLength = format.signed ? Int(little(UInt16.self, at: offset + 6)) : 0
            let payloadLength = little(UInt64.self, at: offset + format.fixedLength - 8)
            let start = offset + format.fixedLength
            guard payloadLength <= UInt64(bytes.count),
                start + idLength + signatureLength + Int(payloadLength) + format.checksumLength <= bytes.count
            else { break }
            let bodyEnd = start + idLength + signatureLength + Int(payloadLength)
            let body = bytes[start..<bodyEnd]
            guard bytes[bodyEnd..<bodyEnd + format.checksumLength].elementsEqual(format.checksum(body)),
                let agent = String(validating: body.prefix(idLength), as: UTF8.self),
                let signature = String(validating: body.dropFirst(idLength).prefix(signatureLength), as: UTF8.self)
            else { break }
            records.append(
                Record(agent: agent, payload: Array(body.dropFirst(idLength + signatureLength)), signature: format.signed ? signature : nil))
            offset = bodyEnd + format.checksumLength
        }
        return (records, offset)
    }
}
