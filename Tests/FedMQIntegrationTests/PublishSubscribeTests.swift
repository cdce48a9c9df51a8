import FedMQLocalBroker
import FedMQTransport
import Testing

@Suite("Publish and subscribe through a real mosquitto", .hangGuard)
struct PublishSubscribeTests {
    @Test("payload arrives byte for byte", arguments: [QoS.atMostOnce, .atLeastOnce], [0, 1024, 8 << 20])
    func roundTrip(qos: QoS, size: Int) async throws {
        try await withLocalBroker { broker in
            let client = try await connectedClient(clientOptions(broker))
            let payload = [UInt8].pattern(count: size)
            let subscription = try await client.subscribe(to: ["fedmq/test/roundtrip"], qos: qos)
            try await client.publish("fedmq/test/roundtrip", payload: payload, qos: qos)
            let received = try await messages(subscription, count: 1)
            #expect(received[0].topic == "fedmq/test/roundtrip")
            #expect(received[0].payload.count == size)
            #expect(received[0].payload == payload)
            #expect(received[0].qos == qos)
            #expect(received[0].retain == false)
            await client.disconnect()
        }
    }

    @Test("a retained message reaches a subscriber that connects later")
    func retainedForLateSubscriber() async throws {
        try await withLocalBroker { broker in
            let publisher = try await connectedClient(clientOptions(broker))
            let model = [UInt8].pattern(count: 4096, seed: 3)
            try await publisher.publish("fedmq/v1/job/global/model", payload: model, retain: true)
            await publisher.disconnect()

            let late = try await connectedClient(clientOptions(broker))
            let subscription = try await late.subscribe(to: ["fedmq/v1/job/global/model"], qos: .atLeastOnce)
            let received = try await messages(subscription, count: 1)
            #expect(received[0].payload == model)
            #expect(received[0].retain)
            await late.disconnect()
        }
    }

    @Test("a subscription that delivers to a closure hands it the retained and the published messages in order; cancelled, it stops")
    func deliveredToClosure() async throws {
        try await withLocalBroker { broker in
            let client = try await connectedClient(clientOptions(broker))
            try await client.publish("fedmq/test/deliver/retained", payload: [0], retain: true)
            let (delivered, deliver) = AsyncStream.makeStream(of: MQTTMessage.self)
            let subscription = try await client.subscribe(to: ["fedmq/test/deliver/#"], qos: .atLeastOnce) { deliver.yield($0) }
            try await client.publish([1, 2, 3].map { MQTTMessage(topic: "fedmq/test/deliver/n", payload: [$0], qos: .atLeastOnce, retain: false) })
            var received: [MQTTMessage] = []
            for await message in delivered {
                received.append(message)
                if received.count == 4 { break }
            }
            #expect(received.map(\.payload) == [[0], [1], [2], [3]])
            #expect(received.map(\.retain) == [true, false, false, false])
            subscription.cancel()
            var inSequence = 0
            for await _ in subscription { inSequence += 1 }
            #expect(inSequence == 0)
            // After the unsubscribe, a publish reaches a fresh subscription only.
            let witness = try await client.subscribe(to: ["fedmq/test/deliver/#"], qos: .atLeastOnce)
            try await client.publish("fedmq/test/deliver/n", payload: [4])
            #expect(try await messages(witness, count: 2).map(\.payload) == [[0], [4]])
            deliver.finish()
            var late: [[UInt8]] = []
            for await message in delivered { late.append(message.payload) }
            #expect(late.isEmpty)
            await client.disconnect()
        }
    }

    @Test("wildcard filters select the right topics")
    func wildcards() async throws {
        try await withLocalBroker { broker in
            let client = try await connectedClient(clientOptions(broker))
            let updates = try await client.subscribe(to: ["fedmq/v1/job/round/+/update/#"], qos: .atLeastOnce)
            let topics = [
                "fedmq/v1/job/round/3/update/a1", "fedmq/v1/job/round/3/status", "fedmq/v1/other/round/3/update/a1",
                "fedmq/v1/job/round/4/update/a2/x",
            ]
            for topic in topics { try await client.publish(topic, payload: Array(topic.utf8)) }
            let received = try await messages(updates, count: 2)
            #expect(received.map(\.topic) == ["fedmq/v1/job/round/3/update/a1", "fedmq/v1/job/round/4/update/a2/x"])
            #expect(received.map { String(decoding: $0.payload, as: UTF8.self) } == received.map(\.topic))
            await client.disconnect()
        }
    }

    @Test("message expiry and user properties travel with an MQTT 5 message")
    func properties() async throws {
        try await withLocalBroker { broker in
            let client = try await connectedClient(clientOptions(broker))
            let subscription = try await client.subscribe(to: ["fedmq/test/props"], qos: .atLeastOnce)
            try await client.publish(
                "fedmq/test/props", payload: [1, 2, 3], qos: .atLeastOnce, retain: false, messageExpiry: 600,
                userProperties: [UserProperty("fedmq.agent", "a7"), UserProperty("fedmq.round", "12")])
            let message = try await messages(subscription, count: 1)[0]
            #expect(message.properties.userProperties == [UserProperty("fedmq.agent", "a7"), UserProperty("fedmq.round", "12")])
            let expiry = try #require(message.properties.messageExpiry)
            #expect(expiry > 590 && expiry <= 600)
            await client.disconnect()
        }
    }

    @Test("a batch of publishes arrives in order with its properties; a bad message in it stops the rest and is thrown")
    func batch() async throws {
        try await withLocalBroker { broker in
            let client = try await connectedClient(clientOptions(broker))
            let subscription = try await client.subscribe(to: ["fedmq/test/batch/#"], qos: .atLeastOnce)
            let sent = (0..<5).map { index in
                MQTTMessage(
                    topic: "fedmq/test/batch/\(index % 2)", payload: .pattern(count: 1000 * index, seed: UInt8(index)), qos: .atLeastOnce,
                    retain: index == 4, properties: .init(messageExpiry: 600, userProperties: [UserProperty("n", "\(index)")]))
            }
            try await client.publish(sent)
            let received = try await messages(subscription, count: 5)
            #expect(received.map(\.topic) == sent.map(\.topic))
            #expect(received.map(\.payload) == sent.map(\.payload))
            #expect(received.map(\.properties.userProperties) == sent.map(\.properties.userProperties))

            let broken = [sent[0], MQTTMessage(topic: "fedmq/test/batch/#", payload: [1], qos: .atLeastOnce, retain: false), sent[1]]
            await #expect(throws: MQTTError.self) { try await client.publish(broken) }
            // The first went out; the wildcard topic was refused before anything after it was sent.
            try await client.publish("fedmq/test/batch/end", payload: [9])
            let after = try await messages(subscription, count: 2)
            #expect(after.map(\.topic) == ["fedmq/test/batch/0", "fedmq/test/batch/end"])
            await client.disconnect()
        }
    }

    @Test("leaving a subscription's scope unsubscribes it at the broker")
    func scopedSubscriptionUnsubscribes() async throws {
        try await withLocalBroker { broker in
            let client = try await connectedClient(clientOptions(broker))
            let inside = try await client.withSubscription(to: ["fedmq/test/scoped"]) { subscription in
                let reason = try await client.publish("fedmq/test/scoped", payload: [9])
                #expect(try await messages(subscription, count: 1)[0].payload == [9])
                return reason
            }
            #expect(inside == .success)
            // The broker answers an MQTT 5 publish nobody subscribes to with "no matching subscribers".
            var after = ReasonCode.success
            for _ in 0..<100 {
                after = try await client.publish("fedmq/test/scoped", payload: [10])
                if after == .noMatchingSubscribers { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(after == .noMatchingSubscribers)
            await client.disconnect()
        }
    }

    @Test("MQTT 3.1.1 can be selected")
    func mqtt311() async throws {
        try await withLocalBroker { broker in
            var options = clientOptions(broker)
            options.protocolVersion = .v311
            let client = try await connectedClient(options)
            let subscription = try await client.subscribe(to: ["fedmq/test/v311"], qos: .atLeastOnce)
            try await client.publish("fedmq/test/v311", payload: [42])
            let message = try await messages(subscription, count: 1)[0]
            #expect(message.payload == [42])
            #expect(message.properties == MessageProperties())
            await client.disconnect()
        }
    }
}

@Suite("Concurrent publishing through a real mosquitto", .hangGuard)
struct ConcurrentPublishTests {
    @Test("many more concurrent QoS 1 publishes than the in-flight limit all complete and arrive once")
    func manyInFlight() async throws {
        try await withLocalBroker { broker in
            let subscriber = try await connectedClient(clientOptions(broker))
            let publisher = try await connectedClient(clientOptions(broker))
            let subscription = try await subscriber.subscribe(to: ["fedmq/test/burst/#"], qos: .atLeastOnce)
            let count = 2000
            try await within(.seconds(60), "\(count) concurrent publishes") {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<count {
                        group.addTask {
                            try await publisher.publish("fedmq/test/burst/\(index)", payload: Array("\(index)".utf8))
                        }
                    }
                    try await group.waitForAll()
                }
            }
            let received = try await messages(subscription, count: count, within: .seconds(60))
            #expect(Set(received.map(\.topic)).count == count)
            #expect(received.allSatisfy { $0.topic.hasSuffix("/" + String(decoding: $0.payload, as: UTF8.self)) })
            await publisher.disconnect()
            await subscriber.disconnect()
        }
    }
}
