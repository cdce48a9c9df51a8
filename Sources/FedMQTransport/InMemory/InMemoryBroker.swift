import Synchronization

/// A broker in memory, for deterministic protocol tests: topic routing with `+`/`#`
/// wildcards, retained messages, and last wills published when a client's connection is
/// dropped with `InMemoryClient.simulateConnectionLoss()`. Delivery is synchronous: when
/// `publish` returns, every matching subscription has the message.
///
/// It is not a stand-in for Mosquitto in integration tests; those run the real broker.
public final class InMemoryBroker: Sendable {
    struct ClientRecord {
        /// Tells this connection from a later one with the same client id.
        var session: Int
        var subscriptions = SubscriptionRegistry()
        var will: LastWill?
        var online = true
        /// QoS 1/2 messages published while offline, sent at reconnect (as libmosquitto does).
        var outbox: [MQTTMessage] = []
    }

    struct State {
        var retained: [String: MQTTMessage] = [:]
        var clients: [String: ClientRecord] = [:]
        var sessions = 0
    }

    let state = Mutex(State())

    /// An empty broker: no clients, nothing retained.
    public init() {}

    /// Connects a client. A second client with the same id takes over (the first is dropped).
    public func connect(clientID: String, will: LastWill? = nil) -> InMemoryClient {
        makeClient(clientID: clientID, will: will, online: true)
    }

    /// A client that connects at its `connect()`, as `MQTTClient` does; it may subscribe
    /// before. It takes over from an earlier client with the same id at once.
    public func makeClient(clientID: String, will: LastWill? = nil) -> InMemoryClient {
        makeClient(clientID: clientID, will: will, online: false)
    }

    private func makeClient(clientID: String, will: LastWill?, online: Bool) -> InMemoryClient {
        let (previous, session) = state.withLock { state in
            state.sessions += 1
            defer { state.clients[clientID] = ClientRecord(session: state.sessions, will: will, online: online) }
            return (state.clients[clientID], state.sessions)
        }
        for entry in previous.map({ Array($0.subscriptions.entries.values) }) ?? [] { entry.receiver.finish() }
        return InMemoryClient(broker: self, clientID: clientID, session: session)
    }

    /// Cuts a client's connection for good, as when its process is killed: the broker
    /// publishes its last will and ends its subscriptions, and the client object can no
    /// longer publish or subscribe (each call throws `.closed`).
    public func sever(clientID: String) {
        guard var record = state.withLock({ $0.clients.removeValue(forKey: clientID) }) else { return }
        for receiver in record.subscriptions.removeAll() { receiver.finish() }
        if record.online, let will = record.will {
            route(MQTTMessage(topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain))
        }
    }

    /// Whether a client with this id is connected.
    public func isOnline(clientID: String) -> Bool {
        state.withLock { $0.clients[clientID]?.online ?? false }
    }

    /// The retained message on `topic`, if any.
    public func retainedMessage(on topic: String) -> MQTTMessage? {
        state.withLock { $0.retained[topic] }
    }

    /// Routes a message to every online subscriber and updates the retained store; returns
    /// how many subscriptions received it.
    @discardableResult
    func route(_ message: MQTTMessage) -> Int {
        let receivers = state.withLock { state -> [MessageReceiver] in
            if message.retain {
                state.retained[message.topic] = message.payload.isEmpty ? nil : message
            }
            return state.clients.values.filter(\.online).flatMap { $0.subscriptions.receivers(of: message.topic) }
        }
        var live = message
        live.retain = false
        for receiver in receivers { receiver.deliver(live) }
        return receivers.count
    }

    /// Retained messages matching any of `filters`, as a new subscriber receives them.
    func retainedMessages(matching filters: [String]) -> [MQTTMessage] {
        state.withLock { state in
            state.retained.values
                .filter { message in filters.contains { TopicName.matches(filter: $0, topic: message.topic) } }
                .sorted { $0.topic < $1.topic }
        }
    }
}

extension InMemoryBroker: MQTTConnector {
    /// A client of this broker with the options' client id and last will; the network
    /// settings do not apply.
    public func transport(options: ConnectionOptions) throws -> any MQTTTransport {
        makeClient(clientID: options.clientID ?? "anonymous-\(state.withLock { $0.sessions + 1 })", will: options.will)
    }
}
