import FedMQCore
import FedMQHomomorphic
import FoundationEssentials

/// The payloads of homomorphic rounds, all safetensors with U8 tensors and string metadata:
/// an agent's encrypted update, the aggregator's decryption request (the product of the
/// round's ciphertexts and the signed updates it came from), and the key holder's sum.
public enum HomomorphicCodec {
    enum Key {
        static let kind = "fedmq.kind"
        static let job = "fedmq.job"
        static let round = "fedmq.round"
        static let agent = "fedmq.agent"
        static let base = "fedmq.base_model_sha256"
        static let examples = "fedmq.examples"
        static let key = "fedmq.he.key_sha256"
        static let values = "fedmq.he.values"
        static let updates = "fedmq.he.updates"
        static let request = "fedmq.he.request_sha256"
    }

    /// An agent's update: its delta packed and encrypted, as `ciphertexts` [count, width].
    public struct EncryptedUpdate: Sendable {
        public var job: String
        public var round: Int
        public var agent: String
        public var baseSHA256: String
        public var examples: Int
        public var ciphertexts: [BigInteger]
    }

    /// The encrypted delta of `agent` for `round`: `values` entries packed by `packing`.
    public static func encryptUpdate(
        _ values: [Float], packing: PaillierPacking, key: HomomorphicKey, job: String, round: Int, agent: String, baseSHA256: String,
        examples: Int, using random: inout some RandomNumberGenerator
    ) -> [UInt8] {
        let ciphertexts = packing.pack(values).map { key.encryptor.encrypt($0, using: &random) }
        return encode(
            "ciphertexts", ciphertexts, key: key,
            metadata: [
                Key.kind: "encrypted_update", Key.job: job, Key.round: "\(round)", Key.agent: agent, Key.base: baseSHA256,
                Key.examples: "\(examples)", Key.values: "\(values.count)",
            ])
    }

    /// An encrypted update, checked to be for this job, round, agent and base model, under
    /// `key`, with as many valid ciphertexts as `values` entries packed by `packing` need.
    public static func decodeUpdate(
        _ payload: [UInt8], job: String, round: Int, agent: String, baseSHA256: String, key: HomomorphicKey, packing: PaillierPacking,
        values: Int
    ) throws(ProtocolError) -> EncryptedUpdate {
        let (metadata, blob) = try decode(payload, blob: "ciphertexts")
        guard metadata[Key.kind] == "encrypted_update", metadata[Key.job] == job, metadata[Key.round] == "\(round)",
            metadata[Key.agent] == agent
        else { throw .homomorphic("the encrypted update's metadata does not name this job, round and agent") }
        guard metadata[Key.base] == baseSHA256 else { throw .homomorphic("the update was not trained from the round's model") }
        guard metadata[Key.key] == key.fingerprint else { throw .homomorphic("the update is not under the key holder's current key") }
        guard metadata[Key.values] == "\(values)", let examples = metadata[Key.examples].flatMap(Int.init), examples >= 0 else {
            throw .homomorphic("the update must say it packs \(values) values and a non-negative example count")
        }
        return EncryptedUpdate(
            job: job, round: round, agent: agent, baseSHA256: baseSHA256, examples: examples,
            ciphertexts: try ciphertexts(blob, count: packing.plaintexts(for: values), key: key))
    }

    /// One update the aggregator multiplied in, as the key holder checks it: the agent's
    /// signature over `SignedStatement.update` with the payload's sha256.
    public struct Contribution: Codable, Sendable, Equatable {
        public var agent: String
        public var sha256: String
        public var signature: String

        /// `agent`'s update of hash `sha256`, signed with `signature`.
        public init(agent: String, sha256: String, signature: String) {
            self.agent = agent
            self.sha256 = sha256
            self.signature = signature
        }
    }

    /// What the aggregator asks the key holder to decrypt.
    public struct DecryptionRequest: Sendable {
        public var job: String
        public var round: Int
        public var baseSHA256: String
        public var values: Int
        public var contributions: [Contribution]
        public var aggregate: [BigInteger]

        /// The request to decrypt `aggregate`, the product of the `contributions`' ciphertexts.
        public init(job: String, round: Int, baseSHA256: String, values: Int, contributions: [Contribution], aggregate: [BigInteger]) {
            self.job = job
            self.round = round
            self.baseSHA256 = baseSHA256
            self.values = values
            self.contributions = contributions
            self.aggregate = aggregate
        }
    }

    /// The request to decrypt `aggregate`, the product of the `contributions`' ciphertexts
    /// (listed by agent, so the same round always makes the same bytes).
    public static func encodeRequest(_ request: DecryptionRequest, key: HomomorphicKey) -> [UInt8] {
        let contributions = request.contributions.sorted { $0.agent < $1.agent }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let list = String(decoding: (try? encoder.encode(contributions)) ?? Data("[]".utf8), as: UTF8.self)
        return encode(
            "aggregate", request.aggregate, key: key,
            metadata: [
                Key.kind: "decryption_request", Key.job: request.job, Key.round: "\(request.round)", Key.base: request.baseSHA256,
                Key.values: "\(request.values)", Key.updates: list,
            ])
    }

    /// A decryption request for `job` and `round`, under `key`, with valid ciphertexts.
    public static func decodeRequest(_ payload: [UInt8], job: String, round: Int, key: HomomorphicKey) throws(ProtocolError) -> DecryptionRequest {
        let (metadata, blob) = try decode(payload, blob: "aggregate")
        guard metadata[Key.kind] == "decryption_request", metadata[Key.job] == job, metadata[Key.round] == "\(round)" else {
            throw .homomorphic("the request's metadata does not name this job and round")
        }
        guard metadata[Key.key] == key.fingerprint else { throw .homomorphic("the request is not under this key holder's key") }
        guard let base = metadata[Key.base], let values = metadata[Key.values].flatMap(Int.init), values > 0,
            let list = metadata[Key.updates],
            let contributions = try? JSONDecoder().decode([Contribution].self, from: Data(list.utf8))
        else { throw .homomorphic("the request must name its base model, value count and updates") }
        guard blob.shape.count == 2 else { throw .homomorphic("the aggregate must be a [count, width] U8 tensor") }
        return DecryptionRequest(
            job: job, round: round, baseSHA256: base, values: values, contributions: contributions,
            aggregate: try ciphertexts(blob, count: blob.shape[0], key: key))
    }

    /// The key holder's answer: the decrypted sums, for the request of hash `requestSHA256`.
    public static func encodeSum(_ sums: [BigInteger], job: String, round: Int, requestSHA256: String, key: PaillierPublicKey) -> [UInt8] {
        let width = (key.bits + 7) / 8
        var bytes: [UInt8] = []
        for sum in sums { bytes += sum.bigEndianBytes(minimumCount: width) }
        return SafetensorsEncoder.encode(
            blobs: [("sums", ByteBlob(shape: [sums.count, width], bytes: bytes))],
            metadata: [Key.kind: "decrypted_sum", Key.job: job, Key.round: "\(round)", Key.request: requestSHA256])
    }

    /// The sums of the request of hash `requestSHA256`, `count` plaintexts of `key`.
    public static func decodeSum(
        _ payload: [UInt8], job: String, round: Int, requestSHA256: String, count: Int, key: HomomorphicKey
    ) throws(ProtocolError) -> [BigInteger] {
        let (metadata, blob) = try decode(payload, blob: "sums")
        guard metadata[Key.kind] == "decrypted_sum", metadata[Key.job] == job, metadata[Key.round] == "\(round)" else {
            throw .homomorphic("the sum's metadata does not name this job and round")
        }
        guard metadata[Key.request] == requestSHA256 else { throw .homomorphic("the sum answers another request than this round's") }
        let width = (key.key.bits + 7) / 8
        guard blob.shape == [count, width], blob.bytes.count == count * width else {
            throw .homomorphic("the sum must hold \(count) plaintexts of \(width) bytes")
        }
        return (0..<count).map { BigInteger(bigEndian: Array(blob.bytes[$0 * width..<($0 + 1) * width])) }
    }

    private static func encode(_ name: String, _ ciphertexts: [BigInteger], key: HomomorphicKey, metadata: [String: String]) -> [UInt8] {
        var metadata = metadata
        metadata[Key.key] = key.fingerprint
        let blob = ByteBlob(shape: [ciphertexts.count, Ciphertexts.width(key.key)], bytes: Ciphertexts.bytes(ciphertexts, key: key.key))
        return SafetensorsEncoder.encode(blobs: [(name, blob)], metadata: metadata)
    }

    /// The metadata and the one U8 tensor `name` of a payload that holds nothing else.
    private static func decode(_ payload: [UInt8], blob name: String) throws(ProtocolError) -> ([String: String], ByteBlob) {
        let file: SafetensorsFile
        do {
            file = try SafetensorsDecoder.decode(payload)
        } catch {
            throw .core(error)
        }
        guard file.tensors.isEmpty, file.indices.isEmpty, file.blobs.count == 1, let blob = file.blobs[name] else {
            throw .homomorphic("the payload must hold exactly one U8 tensor '\(name)'")
        }
        return (file.metadata, blob)
    }

    private static func ciphertexts(_ blob: ByteBlob, count: Int, key: HomomorphicKey) throws(ProtocolError) -> [BigInteger] {
        guard blob.shape == [count, Ciphertexts.width(key.key)] else {
            throw .homomorphic("expected \(count) ciphertexts of \(Ciphertexts.width(key.key)) bytes, shape is \(blob.shape)")
        }
        do {
            return try Ciphertexts.parse(blob.bytes, count: count, key: key.key)
        } catch {
            throw .homomorphic("\(error)")
        }
    }
}
