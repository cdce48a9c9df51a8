/// Why a connection ended.
public enum DisconnectReason: Sendable, Equatable, CustomStringConvertible {
    /// The owner called `disconnect()`.
    case requested
    /// The broker closed the connection and said why (MQTT 5 DISCONNECT).
    case broker(ReasonCode)
    /// The network or the broker went away; the text is the library's.
    case connectionLost(String)

    public var description: String {
        switch self {
        case .requested: "disconnect requested"
        case .broker(let reason): "broker disconnected: \(reason)"
        case .connectionLost(let text): "connection lost: \(text)"
        }
    }
}

/// What happens to a client's connection, in order, as an `AsyncSequence` element.
public enum ConnectionEvent: Sendable, Equatable {
    /// The broker accepted the connection. `sessionPresent` tells whether it kept our session.
    case connected(sessionPresent: Bool)
    case disconnected(DisconnectReason)
    /// A connection attempt failed or the connection dropped; the next try comes after `delay`.
    case reconnecting(attempt: Int, delay: Duration, lastError: String)
}
