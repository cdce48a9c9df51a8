import FedMQProtocol
import FedMQRuntime

/// Everything `fedmq-keyholder` needs; read from `--config FILE` (JSON, snake_case keys), with
/// command-line flags overriding single fields (see `ConfigFile`).
public struct KeyholderConfig: ConfigFile, Sendable {
    public var job = ""
    public var broker = BrokerSettings()
    /// The key holder's Ed25519 private key file: it signs the public key and every sum.
    public var identityKey = ""
    /// The enrolment file: the aggregator's key (requests must carry its signature) and the
    /// agents' keys (every update in an aggregate must carry its agent's).
    public var enrolment = ""
    /// The Paillier private key and the answered rounds live here (created at the first start).
    public var stateDirectory = ""
    /// The size of a newly generated Paillier key: 2048 or 3072 bits.
    public var keyBits = 2048
    /// The fewest distinct agents' updates an aggregate must combine to be decrypted. The key
    /// holder's own setting, whatever the aggregator's policy says.
    public var minUpdates = 0

    public static let requiredKeys = ["job", "identity_key", "enrolment", "state_directory", "min_updates"]

    enum CodingKeys: String, CodingKey {
        case job, broker, enrolment
        case identityKey = "identity_key"
        case stateDirectory = "state_directory"
        case keyBits = "key_bits"
        case minUpdates = "min_updates"
    }

    /// Every field at its default (the required ones empty): what a config file is laid over.
    public init() {}

    /// Refuses settings the key holder cannot run with, naming the field.
    public func validate() throws(RuntimeError) {
        do {
            try Identifier.validate(job, kind: "job")
        } catch {
            throw .configuration("\(error)")
        }
        for (field, value) in [("identity_key", identityKey), ("enrolment", enrolment), ("state_directory", stateDirectory)] where value.isEmpty {
            throw .configuration("\(field) is empty")
        }
        guard HomomorphicSettings.keySizes.contains(keyBits) else { throw .configuration("key_bits must be 2048 or 3072, not \(keyBits)") }
        guard minUpdates >= 2 else { throw .configuration("min_updates must be at least 2: a sum of one update is that update") }
    }
}
