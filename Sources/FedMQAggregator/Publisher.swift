import FedMQTransport

/// The aggregator's publishes, at QoS 1. While one waits for the broker's acknowledgement, the
/// update mailbox takes messages without limit: the acknowledgement comes in on the network
/// thread that a full mailbox would otherwise hold.
struct Publisher: Sendable {
    let client: any MQTTTransport
    let updates: MQTTMailbox

    /// Publishes `messages` in order, all sent before any acknowledgement is awaited.
    func publish(_ messages: [MQTTMessage]) async throws {
        try await updates.withoutLimit { try await client.publish(messages) }
    }

    func publish(_ topic: String, payload: [UInt8], retain: Bool, messageExpiry: UInt32? = nil, userProperties: [UserProperty] = []) async throws {
        try await updates.withoutLimit {
            try await client.publish(
                topic, payload: payload, qos: .atLeastOnce, retain: retain, messageExpiry: messageExpiry, userProperties: userProperties)
        }
    }
}
