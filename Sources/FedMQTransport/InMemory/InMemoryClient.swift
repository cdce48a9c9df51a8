import Synchronization

/// A client of an `InMemoryBroker`; implements `MQTTTransport` like `MQTTClient`.
public final class InMemoryClient: MQTTTransport {
    public let clientID: String
    private let broker: InMemoryBroker
    private let session: Int
    private let events = EventBroadcaster()

    init(broker: InMemoryBroker, clientID: String, session: Int) {
        self.broker = broker
        self.clientID = clientID
        self.session = session
    }

    /// This connection's record at the broker, unless it was disconnected or taken over.
    private func withRecord<Result>(
        _ call: String, _ body: (inout InMemoryBroker.ClientRecord) throws(MQTTError) -> Result
    ) throws(MQTTError) -> Result {
        try broker.state.withLock { state throws(MQTTError) -> Result in
            guard var record = state.clients[clientID], record.session == session else {
                throw MQTTError(.closed, call: call, detail: "the client was disconnected")
            }
            defer { state.clients[clientID] = record }
            return try body(&record)
        }
    }

    /// Delivers at once to every matching subscriber (queued while offline at QoS 1 and 2).
    @discardableResult
    public func publish(
        _ topic: String, payload: [UInt8], qos: QoS, retain: Bool, messageExpiry: UInt32?,
        userProperties: [UserProperty]
    ) async throws -> ReasonCode {
        try TopicName.validate(topic, call: "publish")
        let message = MQTTMessage(
            topic: topic, payload: payload, qos: qos, retain: retain,
            properties: MessageProperties(messageExpiry: messageExpiry, userProperties: userProperties))
        let online = try withRecord("publish") { record throws(MQTTError) in
            if !record.online {
                guard qos != .atMostOnce else {
                    throw MQTTError(.notConnected, call: "publish", detail: "QoS 0 message dropped while offline")
                }
                record.outbox.append(message)
            }
            return record.online
        }
        guard online else { return .success }
        let receivers = broker.route(message)
        return receivers == 0 && qos != .atMostOnce ? .noMatchingSubscribers : .success
    }

    /// Subscribes; retained messages matching the filters arrive first.
    public func subscribe(to filters: [String], qos: QoS, deliver: (@Sendable (MQTTMessage) -> Void)?) async throws -> MQTTSubscription {
        guard !filters.isEmpty else { throw MQTTError(.invalidArgument, call: "subscribe", detail: "no topic filter given") }
        for filter in filters { try TopicName.validateFilter(filter, call: "subscribe") }
        let (stream, continuation) = AsyncStream.makeStream(of: MQTTMessage.self, bufferingPolicy: .unbounded)
        let receiver = MessageReceiver(continuation, deliver: deliver)
        let entry = SubscriptionRegistry.Entry(filters: filters, qos: qos, receiver: receiver)
        let id = try withRecord("subscribe") { record in record.subscriptions.add(entry).id }
        continuation.onTermination = { [self] _ in
            _ = try? withRecord("unsubscribe") { record in record.subscriptions.remove(id) }
        }
        for message in broker.retainedMessages(matching: filters) { receiver.deliver(message) }
        return MQTTSubscription(filters: filters, stream: stream, continuation: continuation)
    }

    /// Subscribes with a mailbox that never holds the publisher back (there is no network thread).
    public func subscribeMailbox(to filters: [String], qos: QoS, capacityBytes: Int) async throws -> MQTTMailbox {
        guard !filters.isEmpty else { throw MQTTError(.invalidArgument, call: "subscribe", detail: "no topic filter given") }
        guard capacityBytes > 0 else { throw MQTTError(.invalidArgument, call: "subscribe", detail: "mailbox capacity must be positive") }
        for filter in filters { try TopicName.validateFilter(filter, call: "subscribe") }
        let mailbox = MQTTMailbox(filters: filters, capacityBytes: capacityBytes)
        // Delivery runs on the publisher's task here: the mailbox must never hold it.
        mailbox.release()
        let entry = SubscriptionRegistry.Entry(filters: filters, qos: qos, receiver: MessageReceiver(mailbox))
        let id = try withRecord("subscribe") { record in record.subscriptions.add(entry).id }
        mailbox.onCancel { [self] in
            _ = try? withRecord("unsubscribe") { record in record.subscriptions.remove(id) }
        }
        for message in broker.retainedMessages(matching: filters) { mailbox.deliver(message) }
        return mailbox
    }

    /// A new sequence of this client's connection events.
    public func connectionEvents() -> AsyncStream<ConnectionEvent> {
        events.makeStream()
    }

    /// Drops the connection as a network failure would: the broker publishes the last will,
    /// and messages published to this client meanwhile are missed.
    public func simulateConnectionLoss() {
        // Nothing happens unless the client is connected and online.
        guard
            let (wasOnline, will) = try? withRecord(
                "simulateConnectionLoss",
                { record -> (Bool, LastWill?) in
                    defer { record.online = false }
                    return (record.online, record.will)
                }), wasOnline
        else { return }
        events.send(.disconnected(.connectionLost("simulated connection loss")))
        if let will {
            broker.route(MQTTMessage(topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain))
        }
    }

    /// Reconnects after `simulateConnectionLoss()`: subscriptions resume and queued QoS 1
    /// messages are sent.
    public func simulateReconnect() {
        try? goOnline("simulateReconnect", sessionPresent: true)
    }

    /// Goes online (a client made by `InMemoryBroker.makeClient`); nothing happens if it is.
    public func connect() async throws {
        try goOnline("connect", sessionPresent: false)
    }

    private func goOnline(_ call: String, sessionPresent: Bool) throws(MQTTError) {
        let outbox = try withRecord(call) { record -> [MQTTMessage]? in
            guard !record.online else { return nil }
            record.online = true
            defer { record.outbox = [] }
            return record.outbox
        }
        guard let outbox else { return }
        events.send(.connected(sessionPresent: sessionPresent))
        for message in outbox { broker.route(message) }
    }

    /// Leaves the broker without a last will and ends every subscription and event sequence.
    public func disconnect() async {
        let record = broker.state.withLock { state -> InMemoryBroker.ClientRecord? in
            guard state.clients[clientID]?.session == session else { return nil }
            return state.clients.removeValue(forKey: clientID)
        }
        var registry = record?.subscriptions
        for receiver in registry?.removeAll() ?? [] { receiver.finish() }
        if record != nil { events.send(.disconnected(.requested)) }
        events.finish()
    }
}
