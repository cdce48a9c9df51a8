import FedMQTransport
import Testing

@Suite("Topic names and filters")
struct TopicNameTests {
    @Test(
        "wildcard matching follows MQTT",
        arguments: [
            ("a/b/c", "a/b/c", true), ("a/+/c", "a/b/c", true), ("a/+/c", "a/b/d", false),
            ("a/#", "a", true), ("a/#", "a/b/c", true), ("#", "a/b", true), ("+", "a", true),
            ("+", "a/b", false), ("a/+", "a/", true), ("+/+", "/x", true), ("a/b", "a/b/c", false),
            ("a/b/c", "a/b", false), ("#", "$SYS/broker", false), ("+/broker", "$SYS/broker", false),
            ("$SYS/#", "$SYS/broker", true), ("a/#", "ab", false), ("a/+/#", "a/b", true), ("a/b", "a/bc", false),
            ("a", "a/b", false), ("+/b", "x/b", true), ("+/b", "x/c", false), ("a/+/c", "a//c", true),
            ("fedmq/v1/+/round/+/update/#", "fedmq/v1/j/round/3/update/a1", true),
            ("$share/g/fedmq/v1/j/round/+/update/+", "fedmq/v1/j/round/3/update/a1", true),
            ("$share/g/fedmq/v1/j/round/+/update/+", "fedmq/v1/j/round/3/eval/a1", false), ("$share/g/#", "a/b", true),
        ])
    func matching(filter: String, topic: String, expected: Bool) {
        #expect(TopicName.matches(filter: filter, topic: topic) == expected)
    }

    @Test(
        "filters with misplaced wildcards, and shared subscriptions without a group or filter, are rejected",
        arguments: ["", "a/#/b", "a/b#", "a+/b", "a/+b", "$share/g", "$share//a", "$share/+/a", "$share/g/a/#/b"])
    func invalidFilters(filter: String) {
        #expect(throws: MQTTError.self) { try TopicName.validateFilter(filter, call: "test") }
    }

    @Test("valid filters pass", arguments: ["#", "+", "a/+/b/#", "/", "a//b", "$share/ingest/fedmq/v1/j/round/+/update/+"])
    func validFilters(filter: String) throws {
        try TopicName.validateFilter(filter, call: "test")
    }

    @Test("topic names may not hold wildcards or be empty", arguments: ["", "a/+", "a/#", "x\0y"])
    func invalidNames(topic: String) {
        let error = #expect(throws: MQTTError.self) { try TopicName.validate(topic, call: "publish") }
        #expect(error?.code == .invalidArgument)
        #expect(error?.call == "publish")
    }
}
