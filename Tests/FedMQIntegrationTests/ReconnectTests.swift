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
            try await within(.seconds(60), "the child to connect") {
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
            let polite = try await connectedClient(willingOptions(broker, id: "polite", willUnder: "fedmq/test/will"))
            await polite.disconnect()
            try await expectNoWill(watcher, status, under: "fedmq/test/will")
            await watcher.disconnect()
        }
    }

    @Test("a disconnect while messages stream in still sends DISCONNECT: the broker logs a clean disconnect, no last will")
    func cleanDisconnectUnderTraffic() async throws {
        try await withLocalBroker { broker in
            let watcher = try await connectedClient(clientOptions(broker))
            let wills = try await watcher.subscribe(to: ["fedmq/test/busy-will/#"], qos: .atLeastOnce)
            // The flood comes from mosquitto_pub, a process of its own. Published from this
            // process's tasks, it needed a turn of their small thread pool per message and slowed
            // to a trickle while CPU-heavy suites held the pool (CI once saw fewer than 200
            // messages in 20 s). Its count bounds it; the test stops it sooner.
            let flood = try ChildProcess(
                try Programs.path(of: "mosquitto_pub"),
                [
                    "-h", "127.0.0.1", "-p", "\(broker.port)", "-i", "flooder", "-q", "0", "-t", "fedmq/test/flood/0",
                    "-m", String(repeating: "7", count: 64), "--repeat", "20000000",
                ], logFile: broker.directory.appendingPathComponent("flood.log").path)
            // Several clients, each stopped while PUBLISH packets are arriving: before the network
            // thread owned the DISCONNECT, such a stop often read one first and dropped the connection.
            for index in 0..<5 {
                let id = "busy-\(index)"
                let busy = try await connectedClient(willingOptions(broker, id: id, willUnder: "fedmq/test/busy-will"))
                let stream = try await busy.subscribe(to: ["fedmq/test/flood/#"], qos: .atLeastOnce)
                #expect(try await messages(stream, count: 200).count == 200)
                await busy.disconnect()
                let verdict = try await departure(of: id, from: broker)
                #expect(verdict.hasSuffix("Client \(id) disconnected."), "\(verdict)")
            }
            #expect(flood.isRunning, "mosquitto_pub ended early: \(broker.directory.appendingPathComponent("flood.log").path)")
            await flood.stop()
            try await expectNoWill(watcher, wills, under: "fedmq/test/busy-will")
            await watcher.disconnect()
        }
    }

    @Test("a client stopped while the broker's output to it is backed up still ends with DISCONNECT: a clean disconnect, no last will")
    func cleanDisconnectWithOutputBackedUp() async throws {
        try await withLocalBroker { broker in
            let watcher = try await connectedClient(clientOptions(broker))
            let wills = try await watcher.subscribe(to: ["fedmq/test/held-will/#"], qos: .atLeastOnce)
            let others = Set(loopbackConnections(toPort: broker.port).keys)
            let held = try await connectedClient(willingOptions(broker, id: "held", willUnder: "fedmq/test/held-will"))
            let heldPort = try #require(Set(loopbackConnections(toPort: broker.port).keys).subtracting(others).first)
            // A full mailbox holds the network thread: it stops reading, the socket's buffers
            // fill, and the broker keeps the rest of 64 MiB queued for this client. A socket
            // closed with unread input sends a reset; a broker that sees the reset before it
            // reads the DISCONNECT drops the client as lost and publishes the will.
            let mailbox = try await held.subscribeMailbox(to: ["fedmq/test/backlog/#"], qos: .atMostOnce, capacityBytes: 1)
            let chunk = [UInt8](repeating: 5, count: 512 * 1024)
            for _ in 0..<128 { try await watcher.publish("fedmq/test/backlog/chunk", payload: chunk, qos: .atLeastOnce) }
            try await eventually("the mailbox to hold the network thread") { mailbox.waitingBytes > 0 }
            // The broker is frozen until the client has ended its side of the connection, so
            // that happens before the broker reads the DISCONNECT (running, the broker often
            // got there first and hid a reset).
            let brokerProcess = try #require(broker.processIdentifier)
            kill(brokerProcess, SIGSTOP)
            let leaving = Task { await held.disconnect() }
            do {
                try await eventually("the client to end its side of the connection") {
                    loopbackConnections(toPort: broker.port)[heldPort] != TCPState.established
                }
            } catch {
                kill(brokerProcess, SIGCONT)
                throw error
            }
            kill(brokerProcess, SIGCONT)
            await leaving.value
            let verdict = try await departure(of: "held", from: broker)
            #expect(verdict.hasSuffix("Client held disconnected."), "\(verdict)")
            try await expectNoWill(watcher, wills, under: "fedmq/test/held-will")
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
            _ = try await within(.seconds(60), "the offline publish to be acknowledged") { try await offline.value }

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

    /// Options for client `id` whose last will ("gone") goes to `prefix/id`.
    private func willingOptions(_ broker: LocalBroker, id: String, willUnder prefix: String) -> ConnectionOptions {
        var options = clientOptions(broker, id: id)
        options.will = LastWill(topic: "\(prefix)/\(id)", payload: Array("gone".utf8))
        return options
    }

    /// Publishes a marker to `prefix/marker` and expects it to be the first message `wills` (a
    /// subscription to `prefix/#`) receives: no will came before it.
    private func expectNoWill(_ watcher: MQTTClient, _ wills: MQTTSubscription, under prefix: String) async throws {
        try await watcher.publish("\(prefix)/marker", payload: [1])
        #expect(try await messages(wills, count: 1).map(\.topic) == ["\(prefix)/marker"])
    }

    /// The broker's log line on how client `id` left: "Client id disconnected." for a clean
    /// DISCONNECT, with a reason after the colon for a lost connection.
    private func departure(of id: String, from broker: LocalBroker) async throws -> String {
        try await within(.seconds(60), "the broker to log how \(id) left") {
            while true {
                let lines = broker.logTail(lines: 400).split(separator: "\n").filter { $0.contains("Client \(id) ") }
                if let last = lines.last(where: { $0.contains("disconnect") || $0.contains("closed") }) { return String(last) }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }
}
