import FedMQCommandLine
import FedMQTransport

/// What a broker retains on some topics, read once on a connection of its own: the tools'
/// snapshot of a job.
enum RetainedState {
    /// The retained message of every topic matching `filters`, by topic; nil if the broker does
    /// not let this user subscribe to them. Throws if the broker cannot be reached. A broker
    /// sends a subscription's retained messages before it acknowledges the next subscription, so
    /// a second subscription to the same filters is the fence after which all of them are here.
    /// The connection is closed before this returns (a broker that takes the user name as
    /// client id allows one connection at a time).
    static func read(_ filters: [String], broker: BrokerOptions) async throws -> [String: MQTTMessage]? {
        let client = try MQTTClient(options: broker.connectionOptions())
        do {
            try await client.connect()
        } catch {
            await client.disconnect()
            throw CommandFailure("cannot connect to \(broker.host):\(broker.port): \(error)")
        }
        var retained: [String: MQTTMessage]?
        if let mailbox = try? await client.subscribeMailbox(to: filters, qos: .atLeastOnce, capacityBytes: Int.max),
            let fence = try? await client.subscribe(to: filters, qos: .atLeastOnce)
        {
            fence.cancel()
            retained = Dictionary(mailbox.takeAll().filter(\.retain).map { ($0.topic, $0) }) { _, later in later }
        }
        await client.disconnect()
        return retained
    }
}
