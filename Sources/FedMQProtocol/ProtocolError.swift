import FedMQCore

/// The one error type of FedMQProtocol.
public enum ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A job or agent id is not made of [A-Za-z0-9._-] within the length limit.
    case invalidIdentifier(kind: String, value: String)
    /// A topic is not one of FedMQ's v1 topics.
    case unknownTopic(String)
    /// A JSON message did not parse or does not fit its schema.
    case invalidMessage(schema: String, reason: String)
    /// A model payload is not usable.
    case invalidModel(String)
    /// A round policy or agent setting is not usable.
    case invalidConfiguration(String)
    /// An identity key (Ed25519) is not usable.
    case invalidKey(String)
    /// A secure-aggregation message does not fit the round's state, or a check of it failed.
    case secureAggregation(String)
    /// A homomorphic round's key, ciphertexts, decryption request or sum failed a check.
    case homomorphic(String)
    /// An error from the ML core.
    case core(CoreError)

    public var description: String {
        switch self {
        case .invalidIdentifier(let kind, let value):
            "\(kind) id '\(value.prefix(80))' must be 1 to \(Identifier.maxLength) characters of A-Z a-z 0-9 . _ -"
        case .unknownTopic(let topic): "'\(topic.prefix(200))' is not a FedMQ v1 topic"
        case .invalidMessage(let schema, let reason): "\(schema): \(reason)"
        case .invalidModel(let reason): "model: \(reason)"
        case .invalidConfiguration(let reason): "configuration: \(reason)"
        case .invalidKey(let reason): "key: \(reason)"
        case .secureAggregation(let reason): "secure aggregation: \(reason)"
        case .homomorphic(let reason): "homomorphic aggregation: \(reason)"
        case .core(let error): error.description
        }
    }
}
