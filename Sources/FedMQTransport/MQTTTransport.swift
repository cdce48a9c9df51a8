/// What FedMQ needs from an MQTT connection. `MQTTClient` implements it over libmosquitto;
/// `InMemoryBroker` clients implement it for deterministic protocol and runtime tests.
public protocol MQTTTransport: Sendable {
    /// Connects and returns once the broker accepted the connection; from then on the
    /// transport reconnects on its own. Subscriptions made before are in place when the
    /// broker delivers what it queued for a persistent session.
    func connect() async throws

    /// Publishes a message. At QoS 1 and 2 it returns once the broker acknowledged it, and
    /// while disconnected it waits for the reconnect. At QoS 0 it returns once the message is
    /// on its way. Returns the broker's (non-failure) reason, e.g. `.noMatchingSubscribers`;
    /// throws `MQTTError` for a failure (for example `.rejected(.notAuthorized)`).
    @discardableResult
    func publish(
        _ topic: String, payload: [UInt8], qos: QoS, retain: Bool, messageExpiry: UInt32?,
        userProperties: [UserProperty]
    ) async throws -> ReasonCode

    /// Publishes `messages` in order, as `publish` does each, but sends them all before it
    /// waits for any acknowledgement. Throws the first failure once every message is settled.
    func publish(_ messages: [MQTTMessage]) async throws

    /// Subscribes to topic filters. Messages arrive in the returned sequence until it is
    /// cancelled or dropped, which unsubscribes. Returns after the broker acknowledged the
    /// subscription (at once when offline: it is made on the next connect).
    ///
    /// With `deliver`, each message goes to it as it arrives instead, on the transport's own
    /// thread (which it must not hold), and the returned sequence stays empty: a runtime that
    /// merges messages with other events into one stream saves a task's hop per message.
    /// Cancelling the subscription still unsubscribes.
    func subscribe(to filters: [String], qos: QoS, deliver: (@Sendable (MQTTMessage) -> Void)?) async throws -> MQTTSubscription

    /// Subscribes to topic filters with flow control: messages wait in the returned
    /// `MQTTMailbox` until taken; once `capacityBytes` wait, a network client stops reading
    /// and the broker holds the rest (the in-memory client keeps them all: it has no network
    /// thread to hold).
    func subscribeMailbox(to filters: [String], qos: QoS, capacityBytes: Int) async throws -> MQTTMailbox

    /// A new sequence of connection events, from now on.
    func connectionEvents() -> AsyncStream<ConnectionEvent>

    /// Disconnects politely (no last will) and ends every subscription and event sequence.
    func disconnect() async
}

extension MQTTTransport {
    /// Subscribes, the messages arriving in the returned sequence.
    public func subscribe(to filters: [String], qos: QoS) async throws -> MQTTSubscription {
        try await subscribe(to: filters, qos: qos, deliver: nil)
    }

    /// Publishes without user properties.
    @discardableResult
    public func publish(
        _ topic: String, payload: [UInt8], qos: QoS = .atLeastOnce, retain: Bool = false,
        messageExpiry: UInt32? = nil
    ) async throws -> ReasonCode {
        try await publish(
            topic, payload: payload, qos: qos, retain: retain, messageExpiry: messageExpiry, userProperties: [])
    }

    /// Publishes `messages` one after the other, each acknowledged before the next is sent.
    public func publish(_ messages: [MQTTMessage]) async throws {
        for message in messages {
            try await publish(
                message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
                messageExpiry: message.properties.messageExpiry, userProperties: message.properties.userProperties)
        }
    }

    /// Subscribes for the duration of `body`, then unsubscribes, whether `body` returns or throws.
    public func withSubscription<Result: Sendable>(
        to filters: [String], qos: QoS = .atLeastOnce,
        _ body: (MQTTSubscription) async throws -> Result
    ) async throws -> Result {
        let subscription = try await subscribe(to: filters, qos: qos)
        defer { subscription.cancel() }
        return try await body(subscription)
    }
}

/// Makes the transports a runtime connects with: `NetworkConnector` over libmosquitto in
/// the executables, an `InMemoryBroker` in tests.
public protocol MQTTConnector: Sendable {
    /// A transport for these options, not connected yet.
    func transport(options: ConnectionOptions) throws -> any MQTTTransport
}

/// Connects through libmosquitto (`MQTTClient`).
public struct NetworkConnector: MQTTConnector {
    /// The connector the executables use.
    public init() {}

    /// An `MQTTClient` with these options.
    public func transport(options: ConnectionOptions) throws -> any MQTTTransport {
        try MQTTClient(options: options)
    }
}
