import FedMQLocalBroker
import FedMQTransport
import Testing

@Suite("A mailbox subscription holds the broker back instead of buffering a burst", .hangGuard)
struct MailboxTests {
    let count = 200
    let size = 4096

    func topic(_ index: Int) -> String { "fedmq/test/burst/\(index)" }

    /// Publishes `count` QoS 1 messages of `size` bytes from a second client and returns once
    /// the broker acknowledged them all.
    func burst(_ broker: LocalBroker) async throws {
        let publisher = try await connectedClient(clientOptions(broker))
        for index in 0..<count {
            try await publisher.publish(topic(index), payload: .pattern(count: size, seed: UInt8(index % 251)), qos: .atLeastOnce)
        }
        await publisher.disconnect()
    }

    @Test("a burst larger than the capacity waits at the broker; taking messages lets it through, in order and complete")
    func flowControl() async throws {
        try await withLocalBroker { broker in
            let receiver = try await connectedClient(clientOptions(broker))
            let mailbox = try await receiver.subscribeMailbox(to: ["fedmq/test/burst/+"], qos: .atLeastOnce, capacityBytes: 10_000)
            try await burst(broker)
            // All 200 are acknowledged to the publisher: the broker holds them, not this process.
            try await eventually("the mailbox to fill") { mailbox.waitingBytes >= 10_000 }
            #expect(mailbox.waitingBytes <= 10_000 + size)
            let received = try await within(.seconds(30), "all messages to arrive") { [count, size] in
                var received: [MQTTMessage] = []
                while received.count < count {
                    let batch = mailbox.takeAll()
                    #expect(batch.reduce(0) { $0 + $1.payload.count } <= 10_000 + size)
                    received += batch
                    if batch.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
                }
                return received
            }
            #expect(received.map(\.topic) == (0..<count).map(topic))
            #expect(received.enumerated().allSatisfy { $1.payload == [UInt8].pattern(count: size, seed: UInt8($0 % 251)) })
            await receiver.disconnect()
        }
    }

    @Test("the client's own publish completes while its mailbox is full, inside withoutLimit; disconnect frees a held thread")
    func publishWhileFull() async throws {
        try await withLocalBroker { broker in
            let receiver = try await connectedClient(clientOptions(broker))
            let mailbox = try await receiver.subscribeMailbox(to: ["fedmq/test/burst/+"], qos: .atLeastOnce, capacityBytes: 10_000)
            // Subscribing waits for the broker's SUBACK, which a held network thread would not read: first.
            let echo = try await receiver.subscribe(to: ["fedmq/test/echo"], qos: .atLeastOnce)
            try await burst(broker)
            try await eventually("the mailbox to fill") { mailbox.waitingBytes >= 10_000 }
            _ = try await within(.seconds(20), "a publish from the held client") {
                try await mailbox.withoutLimit {
                    try await receiver.publish("fedmq/test/echo", payload: [1, 2, 3], qos: .atLeastOnce)
                }
            }
            // The broker sends the echo after the rest of the burst: let it all in to see the echo.
            let echoed = try await mailbox.withoutLimit { try await messages(echo, count: 1) }
            #expect(echoed[0].payload == [1, 2, 3])
            #expect(mailbox.waitingBytes > 10_000)
            // Refill past the capacity, then stop while the network thread is held.
            _ = mailbox.takeAll()
            try await burst(broker)
            try await eventually("the mailbox to fill again") { mailbox.waitingBytes >= 10_000 }
            try await within(.seconds(10), "disconnect") { await receiver.disconnect() }
        }
    }
}
