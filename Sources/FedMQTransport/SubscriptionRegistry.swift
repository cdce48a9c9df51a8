/// Local subscriptions and the broker-side filters they need.
///
/// Several local subscriptions may share a filter; the broker subscription stays until the
/// last of them ends. Plain value type: the owner keeps it under its lock.
struct SubscriptionRegistry {
    struct Entry {
        var filters: [String]
        var qos: QoS
        var continuation: AsyncStream<MQTTMessage>.Continuation
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

    /// The continuations of every subscription with a filter matching `topic`.
    func receivers(of topic: String) -> [AsyncStream<MQTTMessage>.Continuation] {
        entries.values.compactMap { entry in
            entry.filters.contains { TopicName.matches(filter: $0, topic: topic) } ? entry.continuation : nil
        }
    }

    /// Every broker-side filter with its QoS, for restoring subscriptions after a reconnect.
    var activeFilters: [(filter: String, qos: QoS)] {
        filterUse.map { ($0.key, $0.value.qos) }.sorted { $0.filter < $1.filter }
    }

    /// Empties the registry and hands back every continuation, to be finished outside the lock.
    mutating func removeAll() -> [AsyncStream<MQTTMessage>.Continuation] {
        let all = entries.values.map(\.continuation)
        entries = [:]
        filterUse = [:]
        return all
    }
}
