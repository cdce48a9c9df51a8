/// MQTT topic names and filters: validation and wildcard matching, in pure Swift so the
/// in-memory transport and the protocol layer share the broker's rules.
public enum TopicName {
    /// Throws unless `topic` is a valid name to publish to (non-empty, no wildcards, no NUL).
    public static func validate(_ topic: String, call: String) throws(MQTTError) {
        if topic.isEmpty { throw MQTTError(.invalidArgument, call: call, detail: "topic is empty") }
        if topic.utf8.count > 65535 { throw MQTTError(.invalidArgument, call: call, detail: "topic is too long") }
        if topic.utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") || $0 == 0 }) {
            throw MQTTError(.invalidArgument, call: call, detail: "topic '\(topic)' contains a wildcard or NUL")
        }
    }

    /// Throws unless `filter` is a valid subscription filter (`+` alone in a level, `#` only last).
    public static func validateFilter(_ filter: String, call: String) throws(MQTTError) {
        if filter.isEmpty { throw MQTTError(.invalidArgument, call: call, detail: "topic filter is empty") }
        if filter.utf8.count > 65535 || filter.contains("\0") {
            throw MQTTError(.invalidArgument, call: call, detail: "topic filter is too long or contains NUL")
        }
        var levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        if levels.first == "$share" {
            // An MQTT 5 shared subscription: `$share/<group>/<filter>`, the group a plain level.
            guard levels.count >= 3, !levels[1].isEmpty, !levels[1].contains(where: { $0 == "+" || $0 == "#" }) else {
                throw MQTTError(.invalidArgument, call: call, detail: "filter '\(filter)': a shared subscription is $share/<group>/<filter>")
            }
            levels.removeFirst(2)
        }
        for (index, level) in levels.enumerated() {
            let wildcard = level.contains("+") || level.contains("#")
            if wildcard && level.count != 1 {
                throw MQTTError(.invalidArgument, call: call, detail: "filter '\(filter)': a wildcard must fill its level")
            }
            if level == "#" && index != levels.count - 1 {
                throw MQTTError(.invalidArgument, call: call, detail: "filter '\(filter)': '#' must be the last level")
            }
        }
    }

    /// True when `topic` matches `filter`. Wildcards at the first level do not match topics
    /// that start with `$` (broker-internal topics), as the MQTT specification says. A shared
    /// subscription (`$share/<group>/<filter>`) matches what its filter matches.
    ///
    /// Runs on every received message, so it walks the UTF-8 bytes without allocating.
    public static func matches(filter: String, topic: String) -> Bool {
        var filter = filter
        var topic = topic
        return filter.withUTF8 { filterBytes in
            topic.withUTF8 { topicBytes in
                matches(filter: UnsafeBufferPointer(rebasing: filterBytes[sharedPrefixLength(filterBytes)...]), topic: topicBytes)
            }
        }
    }

    /// How many bytes `$share/<group>/` takes at the start of `filter` (0 for a plain filter).
    private static func sharedPrefixLength(_ filter: UnsafeBufferPointer<UInt8>) -> Int {
        let share = "$share/".utf8
        guard filter.count > share.count, filter.starts(with: share) else { return 0 }
        guard let groupEnd = filter[share.count...].firstIndex(of: UInt8(ascii: "/")) else { return 0 }
        return groupEnd + 1
    }

    private static func matches(filter: UnsafeBufferPointer<UInt8>, topic: UnsafeBufferPointer<UInt8>) -> Bool {
        let (slash, plus, hash, dollar) = (UInt8(ascii: "/"), UInt8(ascii: "+"), UInt8(ascii: "#"), UInt8(ascii: "$"))
        if topic.first == dollar && (filter.first == plus || filter.first == hash) { return false }
        var f = 0
        var t = 0
        while f < filter.count {
            let byte = filter[f]
            if byte == hash { return true }  // '#' matches this level and everything below (and the parent)
            if byte == plus {
                while t < topic.count && topic[t] != slash { t += 1 }
                f += 1
            } else {
                // Compare one literal level.
                while f < filter.count && filter[f] != slash {
                    guard t < topic.count, topic[t] == filter[f] else { return false }
                    f += 1
                    t += 1
                }
                if t < topic.count && topic[t] != slash { return false }
            }
            // Both at a level end: either both finished, or both at '/'.
            if f == filter.count { return t == topic.count }
            // filter[f] is '/'.
            if t == topic.count {
                // "a/#" matches "a": the rest of the filter must be exactly "/#".
                return f + 2 == filter.count && filter[f + 1] == hash
            }
            f += 1
            t += 1
        }
        return t == topic.count
    }
}
