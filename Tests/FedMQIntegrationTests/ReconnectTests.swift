import FedMQLocalBroker
import FedMQTransport
import Foundation
import Testing

@Suite("Last will and reconnects with a real mosquitto and real processes", .hangGuard)
struct ReconnectTests {
    @Test("the last will is published when a client process is SIGKILLed")
    func lastWillOnKill() async throws {
        try await withLocalBroker { broker in
            let watcher = try await connectedClient(clientOptions(broker))
            let status = try await watcher.subscribe(to: ["fedmq/v1/job/status/a9"], qos: .atLeastOnce)
            let child = try ChildProcess(
                try fedmqExecutable().path,
                [
                    "mqtt", "connect", "--port", "\(broker.port)", "--client-id", "a9", "--hold",
                    "--will-topic", "fedmq/v1/job/status/a9", "--will-payload", #"{"state":"offline"}"#,
                ], logFile: broker.directory.appendingPathComponent("child.log").path)
            // Wait until the child is connected (the broker logs its client id), then kill it.
            try await within(.seconds(20), "the child to connect") {
                while !broker.logTail(lines: 200).contains("as a9") { try await Task.sleep(for: .milliseconds(20)) }
            }
            child.send(SIGKILL)
            #expect(try await child.wait() == 128 + SIGKILL)
            let will = try await messages(status, count: 1)[0]
            #expect(String(decoding: will.payload, as: UTF8.self) == #"{"state":"offline"}"#)
            await watcher.disconnect()
        }
    }

    @Test("a clean disconnect does not publish the last will")
    func noWillOnCleanDisconnect() async throws {
        try await withLocalBroker { broker in
            let watcher = try await connectedClient(clientOptions(broker))
            let status = try await watcher.subscribe(to: ["fedmq/test/will/#"], qos: .atLeastOnce)
            var options = clientOptions(broker, id: "polite")
            options.will = LastWill(topic: "fedmq/test/will/polite", payload: Array("gone".utf8))
            let polite = try await connectedClient(options)
            await polite.disconnect()
            // A marker published after the disconnect arrives; the will must not come before it.
            try await watcher.publish("fedmq/test/will/marker", payload: [1])
            let received = try await messages(status, count: 1)
            #expect(received.map(\.topic) == ["fedmq/test/will/marker"])
            await watcher.disconnect()
        }
    }

    @Test("a disconnect while messages stream in still sends DISCONNECT: the broker logs a clean disconnect, no last will")
    func cleanDisconnectUnderTraffic() async throws {
        try await withLocalBroker { broker in
            let watcher = try await connectedClient(clientOptions(broker))
            let wills = try await watcher.subscribe(to: ["fedmq/test/busy-will/#"], qos: .atLeastOnce)
            let flooder = try await connectedClient(clientOptions(broker))
            let flood = Task {
                var sent = 0
                while !Task.isCancelled {
                    _ = try? await flooder.publish("fedmq/test/flood/\(sent % 4)", payload: [UInt8](repeating: 7, count: 64), qos: .atMostOnce)
                    sent += 1
                    if sent % 32 == 0 { await Task.yield() }
                }
            }
            // Several clients, each stopped while PUBLISH packets are arriving: before the network
            // thread owned the DISCONNECT, such a stop often read one first and dropped the connection.
            for index in 0..<5 {
                let id = "busy-\(index)"
                var options = clientOptions(broker, id: id)
                options.will = LastWill(topic: "fedmq/test/busy-will/\(id)", payload: Array("gone".utf8))
                let busy = try await connectedClient(options)
                let stream = try await busy.subscribe(to: ["fedmq/test/flood/#"], qos: .atLeastOnce)
                #expect(try await messages(stream, count: 200).count == 200)
                await busy.disconnect()
                let verdict = try await within(.seconds(20), "the broker to log how \(id) left") {
                    while true {
                        let lines = broker.logTail(lines: 400).split(separator: "\n").filter { $0.contains("Client \(id) ") }
                        if let last = lines.last(where: { $0.contains("disconnect") || $0.contains("closed") }) { return String(last) }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                }
                #expect(verdict.hasSuffix("Client \(id) disconnected."), "\(verdict)")
            }
            flood.cancel()
            _ = await flood.result
            try await watcher.publish("fedmq/test/busy-will/marker", payload: [1])
            #expect(try await messages(wills, count: 1).map(\.topic) == ["fedmq/test/busy-will/marker"])
            await flooder.disconnect()
            await watcher.disconnect()
        }
    }

    @Test("an idle client pings within its keepalive, and the broker keeps it: no last will")
    func keepaliveWhileIdle() async throws {
        // At debug level the broker logs every PINGREQ it receives.
        try await withLocalBroker(LocalBrokerConfiguration(extraLines: ["log_type debug"])) { broker in
            let watcher = try await connectedClient(clientOptions(broker))
            let seen = try await watcher.subscribe(to: ["fedmq/test/idle/#"], qos: .atLeastOnce)
            var options = clientOptions(broker, id: "idle")
            options.keepAlive = 5
            options.will = LastWill(topic: "fedmq/test/idle/will", payload: Array("gone".utf8))
            let idle = try await connectedClient(options)
            try await within(.seconds(60), "two PINGREQs from the idle client") {
                while broker.logTail(lines: 2000).components(separatedBy: "Received PINGREQ from idle").count < 3 {
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            try await idle.publish("fedmq/test/idle/marker", payload: [1])
            #expect(try await messages(seen, count: 1).map(\.topic) == ["fedmq/test/idle/marker"])
            #expect(!broker.logTail(lines: 2000).contains("Client idle has exceeded timeout"))
            await idle.disconnect()
            await watcher.disconnect()
        }
    }

    @Test("broker killed and restarted: the client reconnects, resubscribes, and delivers what it published offline")
    func brokerRestart() async throws {
        try await withLocalBroker { broker in
            let client = try await connectedClient(clientOptions(broker, id: "survivor"))
            let events = client.connectionEvents()
            let subscription = try await client.subscribe(to: ["fedmq/test/restart/#"], qos: .atLeastOnce)

            await broker.kill()
            let lost = try await event(events) { if case .disconnected = $0 { true } else { false } }
            guard case .disconnected(.connectionLost) = lost else {
                Issue.record("expected a lost connection, got \(lost)")
                return
            }
            // QoS 1 while the broker is down: queued, delivered after the reconnect.
            let offline = Task { try await client.publish("fedmq/test/restart/offline", payload: Array("queued".utf8)) }
            _ = try await event(events) { if case .reconnecting = $0 { true } else { false } }
            try await broker.start()
            _ = try await event(events) { $0 == .connected(sessionPresent: false) }
            _ = try await within(.seconds(20), "the offline publish to be acknowledged") { try await offline.value }

            let other = try await connectedClient(clientOptions(broker))
            try await other.publish("fedmq/test/restart/live", payload: Array("after".utf8))
            let received = try await messages(subscription, count: 2)
            #expect(received.map(\.topic) == ["fedmq/test/restart/offline", "fedmq/test/restart/live"])
            #expect(received.map { String(decoding: $0.payload, as: UTF8.self) } == ["queued", "after"])
            await other.disconnect()
            await client.disconnect()
        }
    }

    @Test("a persistent session keeps QoS 1 messages for a client that was away")
    func persistentSession() async throws {
        try await withLocalBroker { broker in
            var options = clientOptions(broker, id: "sleeper")
            options.session = .persistent(expiry: .seconds(300))
            let first = try await connectedClient(options)
            // Dropping a subscription unsubscribes it, so keep it until the client disconnects:
            // a disconnect leaves the broker-side subscription to the session.
            let kept = try await first.subscribe(to: ["fedmq/test/session"], qos: .atLeastOnce)
            await first.disconnect()
            kept.cancel()

            let publisher = try await connectedClient(clientOptions(broker))
            try await publisher.publish("fedmq/test/session", payload: [7, 7])
            await publisher.disconnect()

            let second = try MQTTClient(options: options)
            let events = second.connectionEvents()
            // Subscribe before connecting: the broker delivers the queued message at once.
            let subscription = try await second.subscribe(to: ["fedmq/test/session"], qos: .atLeastOnce)
            try await second.connect()
            #expect(try await event(events) { if case .connected = $0 { true } else { false } } == .connected(sessionPresent: true))
            #expect(try await messages(subscription, count: 1)[0].payload == [7, 7])
            await second.disconnect()
        }
    }
}
