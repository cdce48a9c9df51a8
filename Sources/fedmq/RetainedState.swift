import FedMQCommandLine
import FedMQTransport

/// What a broker retains on some topics, read once: the tools' snapshot of a job.
enum RetainedState {
    /// The retained message of every topic matching `filters`, by topic. A broker sends a
    /// subscription's retained messages before it acknowledges the next subscription, so a
    /// second subscription to the same filters is the fence after which all of them are here.
    static func read(_ filters: [String], broker: BrokerOptions) async throws -> [String: MQTTMessage] {
        let client = try MQTTClient(options: broker.connectionOptions())
        do {
            try await client.connect()
            let mailbox = try await client.subscribeMailbox(to: filters, qos: .atLeastOnce, capacityBytes: Int.max)
            let fence = try await client.subscribe(to: filters, qos: .atLeastOnce)
            fence.cancel()
            let retained = mailbox.takeAll().filter(\.retain)
            await client.disconnect()
            return Dictionary(retained.map { ($0.topic, $0) }) { _, later in later }
        } catch {
            await client.disconnect()
            throw CommandFailure("cannot read the retained state on \(broker.host):\(broker.port): \(error)")
        }
    }
}
