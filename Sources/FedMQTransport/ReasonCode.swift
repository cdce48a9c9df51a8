/// An MQTT 5 reason code, as sent by the broker in CONNACK, PUBACK, SUBACK and DISCONNECT.
///
/// Values below 0x80 mean success; 0x80 and above mean failure.
public struct ReasonCode: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8

    /// The code with this MQTT 5 byte.
    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    public var isFailure: Bool { rawValue >= 0x80 }

    public static let success = ReasonCode(rawValue: 0x00)
    public static let noMatchingSubscribers = ReasonCode(rawValue: 0x10)
    public static let unspecifiedError = ReasonCode(rawValue: 0x80)
    public static let malformedPacket = ReasonCode(rawValue: 0x81)
    public static let protocolError = ReasonCode(rawValue: 0x82)
    public static let implementationSpecificError = ReasonCode(rawValue: 0x83)
    public static let unsupportedProtocolVersion = ReasonCode(rawValue: 0x84)
    public static let clientIdentifierNotValid = ReasonCode(rawValue: 0x85)
    public static let badUserNameOrPassword = ReasonCode(rawValue: 0x86)
    public static let notAuthorized = ReasonCode(rawValue: 0x87)
    public static let serverUnavailable = ReasonCode(rawValue: 0x88)
    public static let serverBusy = ReasonCode(rawValue: 0x89)
    public static let banned = ReasonCode(rawValue: 0x8A)
    public static let serverShuttingDown = ReasonCode(rawValue: 0x8B)
    public static let keepAliveTimeout = ReasonCode(rawValue: 0x8D)
    public static let sessionTakenOver = ReasonCode(rawValue: 0x8E)
    public static let topicFilterInvalid = ReasonCode(rawValue: 0x8F)
    public static let topicNameInvalid = ReasonCode(rawValue: 0x90)
    public static let packetTooLarge = ReasonCode(rawValue: 0x95)
    public static let quotaExceeded = ReasonCode(rawValue: 0x97)
    public static let payloadFormatInvalid = ReasonCode(rawValue: 0x99)
    public static let qosNotSupported = ReasonCode(rawValue: 0x9B)

    private static let names: [UInt8: String] = [
        0x00: "success", 0x01: "granted QoS 1", 0x02: "granted QoS 2", 0x04: "disconnect with will message",
        0x10: "no matching subscribers", 0x80: "unspecified error", 0x81: "malformed packet",
        0x82: "protocol error", 0x83: "implementation specific error",
        0x84: "unsupported protocol version", 0x85: "client identifier not valid",
        0x86: "bad user name or password", 0x87: "not authorized", 0x88: "server unavailable",
        0x89: "server busy", 0x8A: "banned", 0x8B: "server shutting down", 0x8D: "keep alive timeout",
        0x8E: "session taken over", 0x8F: "topic filter invalid", 0x90: "topic name invalid",
        0x95: "packet too large", 0x97: "quota exceeded", 0x99: "payload format invalid",
        0x9B: "QoS not supported",
    ]

    public var description: String {
        let hex = "0x" + String(rawValue, radix: 16, uppercase: true)
        return "\(Self.names[rawValue] ?? "reason") (\(hex))"
    }
}
