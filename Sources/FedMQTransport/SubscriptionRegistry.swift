/// Local subscriptions and the broker-side filters they need.
///
/// Several local subscriptions may share a filter; the broker subscription stays until the
/// last of them ends. Plain value type: the owner keeps it under its lock.
struct SubscriptionRegistry {
    struct Entry {
        var filters: [String]
        var qos: QoS
        var receiver: MessageReceiver
    }

    private(set) var entries: [Int: Entry] = [:]
    private var nextID = 0
    /// Filter -> (number of local subscriptions using it, highest QoS asked for).
    private(set) var filterUse: [String: (count: Int, qos: QoS)] = [:]

    /// Adds a subscription; returns its id and the filters that are new to the broker.
    mutating func add(_ entry: Entry) -> (id: Int, newFilters: [String]) {
        nextID += 1
        entries[nextID] = entry
        var newFilters: [String] = []
        for filter in Set(entry.filters) {
            if let use = filterUse[filter] {
                filterUse[filter] = (use.count + 1, QoS(rawValue: max(use.qos.rawValue, entry.qos.rawValue)) ?? use.qos)
            } else {
                filterUse[filter] = (1, entry.qos)
                newFilters.append(filter)
            }
        }
        return (nextID, newFilters.sorted())
    }

    /// Removes a subscription; returns the filters no subscription uses any more.
    mutating func remove(_ id: Int) -> [String] {
        guard let entry = entries.removeValue(forKey: id) else { return [] }
        var unused: [String] = []
        for filter in Set(entry.filters) {
            guard let use = filterUse[filter] else { continue }
            if use.count <= 1 {
                filterUse[filter] = nil
                unused.append(filter)
            } else {
                filterUse[filter] = (use.count - 1, use.qos)
            }
        }
        return unused.sorted()
    }

    /// The receivers of every subscription with a filter matching `topic`.
    func receivers(of topic: String) -> [MessageReceiver] {
        entries.values.compactMap { entry in
            entry.filters.contains { TopicName.matches(filter: $0, topic: topic) } ? entry.receiver : nil
        }
    }

    var allReceivers: [MessageReceiver] { entries.values.map(\.receiver) }

    /// Every broker-side filter with its QoS, for restoring subscriptions after a reconnect.
    var activeFilters: [(filter: String, qos: QoS)] {
        filterUse.map { ($0.key, $0.value.qos) }.sorted { $0.filter < $1.filter }
    }

    /// Empties the registry and hands back every receiver, to be finished outside the lock.
    mutating func removeAll() -> [MessageReceiver] {
        let all = allReceivers
        entries = [:]
        filterUse = [:]
        return all
    }
}

/// Where one subscription's messages go: a stream (`MQTTSubscription`) or a mailbox.
struct MessageReceiver: Sendable {
    /// Hands over a message (on the network thread; a mailbox may hold the thread while full).
    let deliver: @Sendable (MQTTMessage) -> Void
    /// The client closed: no more messages.
    let finish: @Sendable () -> Void
    /// The client is stopping: never hold the network thread again.
    let release: @Sendable () -> Void

    /// Messages go into `continuation`, or to `deliver` when given; the client's close ends `continuation` either way.
    init(_ continuation: AsyncStream<MQTTMessage>.Continuation, deliver: (@Sendable (MQTTMessage) -> Void)? = nil) {
        self.deliver = deliver ?? { continuation.yield($0) }
        finish = { continuation.finish() }
        release = {}
    }

    init(_ mailbox: MQTTMailbox) {
        deliver = mailbox.deliver
        finish = mailbox.finish
        release = mailbox.release
    }
}
