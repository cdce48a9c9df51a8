/// The one error type of FedMQTransport.
///
/// It says what went wrong (`code`), which call failed (`call`, e.g. `mosquitto_publish_v5`
/// or `connect`), and the library's or broker's own words (`detail`).
public struct MQTTError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: Sendable, Equatable {
        /// Not connected and the operation cannot be queued (QoS 0 publish, for example).
        case notConnected
        /// The connection dropped while the operation was under way.
        case connectionLost
        /// The broker refused the connection (CONNACK with a failure reason).
        case connectionRefused(ReasonCode)
        /// The broker refused a publish or subscription (PUBACK/SUBACK failure reason).
        case rejected(ReasonCode)
        /// The payload is bigger than the broker's or MQTT's maximum packet size.
        case packetTooLarge
        /// TLS set-up or handshake failed (untrusted certificate, unreadable key, ...).
        case tls
        /// The connect timeout passed before the broker accepted the connection.
        case timeout
        /// An argument was not acceptable (bad topic, bad port, bad option value).
        case invalidArgument
        /// The peer broke the MQTT protocol, or the operation is not allowed in this protocol version.
        case protocolError
        /// A system call failed; `detail` holds the system's text.
        case io
        case outOfMemory
        /// The client was disconnected by its owner; no further operations are possible.
        case closed
        /// Any other libmosquitto failure; `detail` holds its text.
        case other
    }

    public let code: Code
    public let call: String
    public let detail: String

    /// An error from `call` with a human-readable detail.
    public init(_ code: Code, call: String, detail: String) {
        self.code = code
        self.call = call
        self.detail = detail
    }

    public var description: String { "\(call): \(detail)" }

    /// True when the broker refused our credentials or identity. Brokers differ in the code
    /// they use: Mosquitto 2.0 answers a wrong password with "not authorized".
    public var isAuthenticationFailure: Bool {
        switch code {
        case .connectionRefused(let reason):
            [.badUserNameOrPassword, .notAuthorized, .clientIdentifierNotValid, .banned].contains(reason)
                || reason.rawValue == 0x8C  // bad authentication method
        default:
            false
        }
    }
}
