/// A name/value pair carried in an MQTT 5 packet (`User Property`).
public struct UserProperty: Sendable, Hashable, Codable {
    public var name: String
    public var value: String

    /// An MQTT 5 user property.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// The MQTT 5 properties of a received message that FedMQ cares about.
public struct MessageProperties: Sendable, Hashable {
    /// Seconds left before the broker would have discarded the message.
    public var messageExpiry: UInt32?
    public var contentType: String?
    public var userProperties: [UserProperty]

    /// MQTT 5 properties of a message.
    public init(messageExpiry: UInt32? = nil, contentType: String? = nil, userProperties: [UserProperty] = []) {
        self.messageExpiry = messageExpiry
        self.contentType = contentType
        self.userProperties = userProperties
    }
}

/// A message delivered to a subscription. The payload is our own copy: it outlives the
/// transport's buffers.
public struct MQTTMessage: Sendable, Hashable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: QoS
    /// True when the broker sent a stored retained message (on subscribe), not a live publish.
    public var retain: Bool
    public var properties: MessageProperties

    /// A message as published or received.
    public init(topic: String, payload: [UInt8], qos: QoS, retain: Bool, properties: MessageProperties = .init()) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }
}
