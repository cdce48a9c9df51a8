import FedMQProtocol
import Testing

@Suite("Topics and identifiers")
struct TopicsTests {
    let topics = try! Topics(job: "digits-1")

    @Test("topics are built under fedmq/v1/<job>/ and parse back")
    func roundTrip() throws {
        #expect(topics.globalModel == "fedmq/v1/digits-1/global/model")
        #expect(topics.update(round: 12, agent: "a.7") == "fedmq/v1/digits-1/round/12/update/a.7")
        #expect(try topics.parse(topics.globalModel) == .globalModel)
        #expect(try topics.parse(topics.globalRound) == .globalRound)
        #expect(try topics.parse(topics.metrics) == .metrics)
        #expect(try topics.parse(topics.aggregatorStatus) == .aggregatorStatus)
        #expect(try topics.parse(topics.update(round: 12, agent: "a.7")) == .update(round: 12, agent: "a.7"))
        #expect(try topics.parse(topics.status(agent: "a_1")) == .status(agent: "a_1"))
    }

    @Test("any job's aggregator status topic names its job; nothing else does")
    func aggregatorStatusOfAnyJob() {
        #expect(Topics.job(ofAggregatorStatus: topics.aggregatorStatus) == "digits-1")
        #expect(Topics.everyAggregatorStatus == "fedmq/v1/+/aggregator/status")
        for other in [
            "fedmq/v1/digits-1/global/model", "fedmq/v2/j/aggregator/status", "fedmq/v1/a b/aggregator/status", "fedmq/v1/j/aggregator/status/x",
        ] {
            #expect(Topics.job(ofAggregatorStatus: other) == nil, "\(other)")
        }
    }

    @Test(
        "foreign and malformed topics are refused",
        arguments: [
            "fedmq/v1/other/global/model", "fedmq/v1/digits-1/round/x/update/a", "fedmq/v1/digits-1/round/-1/update/a",
            "fedmq/v1/digits-1/round/01/update/a", "fedmq/v1/digits-1/round/1/update/a b", "fedmq/v1/digits-1/global",
            "fedmq/v1/digits-1/status/", "fedmq/v1/digits-1/round/1/update/a/extra",
        ])
    func refused(topic: String) {
        #expect(throws: ProtocolError.unknownTopic(topic)) { try topics.parse(topic) }
    }

    @Test("ids allow A-Z a-z 0-9 . _ - up to 64 characters", arguments: ["", "a/b", "a+b", "a#", "ü", "..", String(repeating: "a", count: 65)])
    func invalidIDs(id: String) {
        #expect(!Identifier.isValid(id))
        #expect(throws: ProtocolError.self) { try Topics(job: id) }
    }
}
