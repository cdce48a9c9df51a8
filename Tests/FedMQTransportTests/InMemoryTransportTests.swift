import FedMQTransport
import Testing

@Suite("In-memory transport")
struct InMemoryTransportTests {
    /// Everything already delivered to a subscription (delivery is synchronous).
    func drain(_ subscription: MQTTSubscription, count: Int) async -> [MQTTMessage] {
        var received: [MQTTMessage] = []
        for await message in subscription {
            received.append(message)
            if received.count == count { break }
        }
        return received
    }

    @Test("wildcards route, and a late subscriber gets the retained message")
    func routingAndRetained() async throws {
        let broker = InMemoryBroker()
        let aggregator = broker.connect(clientID: "aggregator")
        let agent = broker.connect(clientID: "a1")
        let updates = try await aggregator.subscribe(to: ["fedmq/v1/j/round/+/update/#"], qos: .atLeastOnce)
        #expect(try await agent.publish("fedmq/v1/j/round/1/update/a1", payload: [1]) == .success)
        #expect(try await agent.publish("fedmq/v1/j/round/1/eval/a1", payload: [2]) == .noMatchingSubscribers)
        try await aggregator.publish("fedmq/v1/j/global/model", payload: [9, 9], retain: true)

        let late = broker.connect(clientID: "a2")
        let model = try await late.subscribe(to: ["fedmq/v1/j/global/#"], qos: .atLeastOnce)
        let received = await drain(updates, count: 1)
        #expect(received.map(\.payload) == [[1]])
        let retained = await drain(model, count: 1)
        #expect(retained.map(\.payload) == [[9, 9]])
        #expect(retained.first?.retain == true)
    }

    @Test("an empty retained payload clears the retained message")
    func clearRetained() async throws {
        let broker = InMemoryBroker()
        let client = broker.connect(clientID: "c")
        try await client.publish("t", payload: [1], retain: true)
        #expect(broker.retainedMessage(on: "t")?.payload == [1])
        try await client.publish("t", payload: [], retain: true)
        #expect(broker.retainedMessage(on: "t") == nil)
    }

    @Test("a simulated drop publishes the last will; QoS 1 published meanwhile is sent at reconnect")
    func willAndOutbox() async throws {
        let broker = InMemoryBroker()
        let watcher = broker.connect(clientID: "w")
        let status = try await watcher.subscribe(to: ["status/#"], qos: .atLeastOnce)
        let agent = broker.connect(
            clientID: "a1", will: LastWill(topic: "status/a1", payload: Array("offline".utf8), retain: true))
        let events = agent.connectionEvents()
        agent.simulateConnectionLoss()
        try await agent.publish("status/a1", payload: Array("back".utf8), qos: .atLeastOnce)
        await #expect(throws: MQTTError.self) { try await agent.publish("status/a1", payload: [0], qos: .atMostOnce) }
        agent.simulateReconnect()
        let received = await drain(status, count: 2)
        #expect(received.map { String(decoding: $0.payload, as: UTF8.self) } == ["offline", "back"])
        #expect(broker.retainedMessage(on: "status/a1")?.payload == Array("offline".utf8))
        var seen: [ConnectionEvent] = []
        for await event in events {
            seen.append(event)
            if seen.count == 2 { break }
        }
        #expect(seen == [.disconnected(.connectionLost("simulated connection loss")), .connected(sessionPresent: true)])
    }

    @Test("cancelling a subscription stops delivery to it; disconnect ends the rest")
    func cancelAndDisconnect() async throws {
        let broker = InMemoryBroker()
        let client = broker.connect(clientID: "c")
        let first = try await client.subscribe(to: ["x"], qos: .atLeastOnce)
        let second = try await client.subscribe(to: ["x"], qos: .atLeastOnce)
        first.cancel()
        #expect(try await client.publish("x", payload: [1]) == .success)
        #expect(await drain(second, count: 1).map(\.payload) == [[1]])
        var afterCancel = 0
        for await _ in first { afterCancel += 1 }
        #expect(afterCancel == 0)
        await client.disconnect()
        var afterDisconnect = 0
        for await _ in second { afterDisconnect += 1 }
        #expect(afterDisconnect == 0)
        await #expect(throws: MQTTError.self) { try await client.publish("x", payload: [1]) }
    }

    @Test("a second client with the same id takes over the session")
    func takeover() async throws {
        let broker = InMemoryBroker()
        let old = broker.connect(clientID: "dup")
        let oldSubscription = try await old.subscribe(to: ["x"], qos: .atLeastOnce)
        let new = broker.connect(clientID: "dup")
        let newSubscription = try await new.subscribe(to: ["x"], qos: .atLeastOnce)
        try await new.publish("x", payload: [5])
        #expect(await drain(newSubscription, count: 1).map(\.payload) == [[5]])
        var oldCount = 0
        for await _ in oldSubscription { oldCount += 1 }
        #expect(oldCount == 0)
        await #expect(throws: MQTTError.self) { try await old.publish("x", payload: [1]) }
    }
}

@Suite("In-memory transport: mailbox subscriptions")
struct InMemoryMailboxTests {
    @Test("a mailbox takes retained and published messages in order, never holds the publisher, and stops after cancel")
    func mailbox() async throws {
        let broker = InMemoryBroker()
        let aggregator = broker.connect(clientID: "aggregator")
        let agent = broker.connect(clientID: "a1")
        try await agent.publish("fedmq/v1/j/status/a1", payload: [0], retain: true)
        let mailbox = try await aggregator.subscribeMailbox(
            to: ["fedmq/v1/j/round/+/update/+", "fedmq/v1/j/status/+"], qos: .atLeastOnce, capacityBytes: 2)
        // Past the capacity: an in-memory publisher is not held.
        for index in 1...5 { try await agent.publish("fedmq/v1/j/round/1/update/a1", payload: [UInt8(index), 0, 0]) }
        var arrivals = mailbox.arrivals.makeAsyncIterator()
        #expect(await arrivals.next() != nil)
        let taken = mailbox.takeAll()
        #expect(taken.map(\.payload) == [[0], [1, 0, 0], [2, 0, 0], [3, 0, 0], [4, 0, 0], [5, 0, 0]])
        #expect(mailbox.waitingBytes == 0)
        mailbox.cancel()
        #expect(try await agent.publish("fedmq/v1/j/round/1/update/a1", payload: [6]) == .noMatchingSubscribers)
        #expect(mailbox.takeAll().isEmpty)
        await #expect(throws: MQTTError.self) { try await aggregator.subscribeMailbox(to: [], qos: .atLeastOnce, capacityBytes: 1) }
    }
}
