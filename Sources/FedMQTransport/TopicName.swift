/// MQTT topic names and filters: validation and wildcard matching, in pure Swift so the
/// in-memory transport and the protocol layer share the broker's rules.
public enum TopicName {
    /// Throws unless `topic` is a valid name to publish to (non-empty, no wildcards, no NUL).
    public static func validate(_ topic: String, call: String) throws(MQTTError) {
        if topic.isEmpty { throw MQTTError(.invalidArgument, call: call, detail: "topic is empty") }
        if topic.utf8.count > 65535 { throw MQTTError(.invalidArgument, call: call, detail: "topic is too long") }
        if topic.contains(where: { $0 == "+" || $0 == "#" || $0 == "\0" }) {
            throw MQTTError(.invalidArgument, call: call, detail: "topic '\(topic)' contains a wildcard or NUL")
        }
    }

    /// Throws unless `filter` is a valid subscription filter (`+` alone in a level, `#` only last).
    public static func validateFilter(_ filter: String, call: String) throws(MQTTError) {
        if filter.isEmpty { throw MQTTError(.invalidArgument, call: call, detail: "topic filter is empty") }
        if filter.utf8.count > 65535 || filter.contains("\0") {
            throw MQTTError(.invalidArgument, call: call, detail: "topic filter is too long or contains NUL")
        }
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
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
    /// that start with `$` (broker-internal topics), as the MQTT specification says.
    public static func matches(filter: String, topic: String) -> Bool {
        let filterLevels = filter.split(separator: "/", omittingEmptySubsequences: false)
        let topicLevels = topic.split(separator: "/", omittingEmptySubsequences: false)
        if topic.hasPrefix("$"), let first = filterLevels.first, first == "+" || first == "#" {
            return false
        }
        var index = 0
        while index < filterLevels.count {
            let level = filterLevels[index]
            if level == "#" { return true }
            guard index < topicLevels.count else { return false }
            if level != "+" && level != topicLevels[index] { return false }
            index += 1
        }
        return index == topicLevels.count
    }
}
