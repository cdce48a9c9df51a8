import FedMQCore
import Foundation
import Testing

@testable import FedMQProtocol

/// The roster on the wire: neighbours' keys packed as bytes (version 3), version 2 still
/// read, and every malformed packed entry or non-canonical key refused by name.
@Suite("Secure aggregation roster encoding")
struct SecAggRosterTests {
    /// Real keys of `count` agents (signed with fresh identity keys), and a roster of all of them but the first.
    static func roster(count: Int) throws -> SecAggRoster {
        var random = SplitMix64(seed: 7)
        let keys = try (0..<count).map { index in
            try SecAggClient(agent: "agent-\(index)", job: "plant-3", round: 12, identity: SigningKey(), using: &random).keys
        }
        return SecAggRoster(
            job: "plant-3", round: 12, agent: keys[0].agent, cohort: count, threshold: count / 2 + 1, neighbours: Array(keys.dropFirst()),
            keysSHA256: keys[0].fingerprint)
    }

    /// `roster` as JSON with its `neighbours` replaced.
    static func json(_ roster: SecAggRoster, neighbours: Any, schema: String = SecAggRoster.schema) throws -> [UInt8] {
        var object = try JSONSerialization.jsonObject(with: Data(ProtocolJSON.encode(roster))) as? [String: Any] ?? [:]
        object["neighbours"] = neighbours
        object["schema"] = schema
        return Array(try JSONSerialization.data(withJSONObject: object))
    }

    @Test("a roster goes out packed (under 300 bytes a neighbour) and comes back with the same keys, signatures and fingerprints")
    func packedRoundTrip() throws {
        let roster = try Self.roster(count: 25)
        let bytes = ProtocolJSON.encode(roster)
        let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        #expect(object?["schema"] as? String == "fedmq.secagg.roster/3")
        let packed = object?["neighbours"] as? [String] ?? []
        #expect(packed.count == 24)
        // 1 + 7 or 8 (the id) + 192 bytes, as base64.
        #expect(packed.allSatisfy { $0.utf8.count == 268 })
        #expect(bytes.count < 24 * 300)
        let decoded = try ProtocolJSON.decode(SecAggRoster.self, from: bytes)
        #expect(decoded == roster)
        #expect(decoded.neighbours.map(\.fingerprint) == roster.neighbours.map(\.fingerprint))
        #expect(try decoded.neighbours.allSatisfy { try VerifyingKey(base64: $0.identityKey).verifies($0.signature, for: $0.statement) })
    }

    @Test("a version 2 roster (each neighbour's keys message as JSON) is still read; another version is refused by name")
    func versionTwoIsRead() throws {
        let roster = try Self.roster(count: 4)
        let keysAsJSON = try roster.neighbours.map { try JSONSerialization.jsonObject(with: Data(ProtocolJSON.encode($0))) }
        let bytes = try Self.json(roster, neighbours: keysAsJSON, schema: "fedmq.secagg.roster/2")
        #expect(try ProtocolJSON.decode(SecAggRoster.self, from: bytes) == roster)
        let unknown = try Self.json(roster, neighbours: [String](), schema: "fedmq.secagg.roster/9")
        #expect(throws: ProtocolError.invalidMessage(schema: SecAggRoster.schema, reason: "schema is 'fedmq.secagg.roster/9'")) {
            try ProtocolJSON.decode(SecAggRoster.self, from: unknown)
        }
    }

    @Test(
        "a packed entry that is cut short, too long, not base64 or names a bad agent id is refused, naming the entry",
        arguments: ["short", "long", "not base64", "bad id", "length past the end", "empty id"])
    func malformedEntryIsRefused(kind: String) throws {
        let roster = try Self.roster(count: 3)
        var bytes = Array(Data(base64Encoded: PackedKeys.pack(roster.neighbours[1]) ?? "") ?? Data())
        #expect(bytes.count == 1 + 7 + 192)
        switch kind {
        case "short": bytes.removeLast()
        case "long": bytes.append(0)
        case "bad id": bytes[1] = UInt8(ascii: "/")
        case "length past the end": bytes[0] = 255
        case "empty id": bytes = [0] + bytes[8...]
        default: break
        }
        let entry = kind == "not base64" ? "%%%" : Data(bytes).base64EncodedString()
        let payload = try Self.json(roster, neighbours: [PackedKeys.pack(roster.neighbours[0]) ?? "", entry])
        #expect(throws: ProtocolError.invalidMessage(schema: SecAggRoster.schema, reason: "field 'neighbours.Index 1' is invalid")) {
            try ProtocolJSON.decode(SecAggRoster.self, from: payload)
        }
    }

    @Test(
        "keys whose text is not canonical are refused (they could not be packed into a roster unchanged)",
        arguments: ["cipher_key", "mask_key", "identity_key", "signature", "self_mask_commitment"])
    func nonCanonicalKeysAreRefused(field: String) throws {
        var keys = try Self.roster(count: 2).neighbours[0]
        let reason: String
        switch field {
        case "cipher_key":
            keys.cipherKey = Data(repeating: 1, count: 31).base64EncodedString()
            reason = "cipher_key is not the base64 of 32 bytes"
        case "mask_key":
            keys.maskKey = " " + keys.maskKey
            reason = "mask_key is not the base64 of 32 bytes"
        case "identity_key":
            keys.identityKey = String(keys.identityKey.dropLast())
            reason = "identity_key is not the base64 of 32 bytes"
        case "signature":
            // The character before "==" carries 2 bits of the last byte and 4 spare bits: with a
            // spare bit set it spells the same 64 bytes another way.
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
            let text = Array(keys.signature)
            let value = alphabet.firstIndex(of: text[text.count - 3]) ?? 0
            keys.signature = String(text.dropLast(3)) + String(alphabet[value ^ 1]) + "=="
            reason = "signature is not the base64 of 64 bytes"
        default:
            keys.selfMaskCommitment = "A" + keys.selfMaskCommitment.dropFirst()
            reason = "self_mask_commitment is not 64 lowercase hex digits"
        }
        #expect(throws: ProtocolError.invalidMessage(schema: SecAggKeys.schema, reason: reason)) {
            try ProtocolJSON.decode(SecAggKeys.self, from: ProtocolJSON.encode(keys))
        }
        #expect(PackedKeys.pack(keys) == nil)
    }
}
