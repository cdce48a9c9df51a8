import FedMQProtocol
import FedMQTransport
import FoundationEssentials

/// Identity keys and enrolment files on disk. A private key file holds the base64 of the
/// Ed25519 key and is readable by its owner only.
public enum IdentityFiles {
    /// The private key in the file at `path` (base64, one line).
    public static func signingKey(at path: String) throws(RuntimeError) -> SigningKey {
        let bytes = try DurableFile.read(path)
        do {
            return try SigningKey(base64: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw .file(path: path, reason: "\(error)")
        }
    }

    /// Writes a new private key durably, readable by its owner only from the moment it exists.
    public static func write(_ key: SigningKey, to path: String) throws(RuntimeError) {
        try DurableFile.write(Array((key.base64 + "\n").utf8), to: path, mode: 0o600)
    }

    /// The enrolment file at `path`, checked.
    public static func enrolment(at path: String) throws(RuntimeError) -> Enrolment {
        let enrolment = try loadJSONFile(Enrolment.self, from: path)
        guard enrolment.schema == Enrolment.schema else {
            throw .file(path: path, reason: "schema '\(enrolment.schema.prefix(40))' is not \(Enrolment.schema)")
        }
        do {
            try enrolment.validate()
        } catch {
            throw .file(path: path, reason: "\(error)")
        }
        return enrolment
    }

    /// A public key from config `field`, named in the error if malformed.
    public static func verifyingKey(_ base64: String, field: String) throws(RuntimeError) -> VerifyingKey {
        do {
            return try VerifyingKey(base64: base64)
        } catch {
            throw .configuration("\(field): \(error)")
        }
    }
}

extension MQTTMessage {
    /// The message's `fedmq-signature` user property, if it has one.
    public var signature: String? {
        properties.userProperties.first { $0.name == SignedStatement.property }?.value
    }
}
