import FedMQProtocol
import Testing

@Suite("Broker queue sizing for a fleet")
struct BrokerSizingTests {
    @Test(
        "a broker queues four messages per agent for the aggregator, never fewer than 10,000",
        arguments: [
            (1, 10_000), (2_500, 10_000), (2_501, 10_004), (5_000, 20_000), (100_000, 400_000),
        ])
    func queuedMessages(agents: Int, expected: Int) {
        #expect(BrokerSizing.queuedMessages(forAgents: agents) == expected)
    }
}
