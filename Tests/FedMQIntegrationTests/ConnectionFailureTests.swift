import FedMQLocalBroker
import FedMQTransport
import Foundation
import Testing

@Suite("Connection failures and security through a real mosquitto", .hangGuard)
struct ConnectionFailureTests {
    @Test("a wrong password is a clear authentication error, not a hang")
    func wrongPassword() async throws {
        let configuration = LocalBrokerConfiguration(allowAnonymous: false, users: ["agent-1": "right"])
        try await withLocalBroker(configuration) { broker in
            var options = clientOptions(broker, id: "agent-1")
            options.connectTimeout = .seconds(10)
            options.credentials = Credentials(username: "agent-1", password: "wrong")
            let client = try MQTTClient(options: options)
            let error = try await #require(throws: MQTTError.self) { try await client.connect() }
            // Mosquitto 2.0 answers a wrong password with "not authorized" (0x87), not 0x86.
            #expect(error.isAuthenticationFailure)
            #expect(error.detail.contains("refused the connection"))
            await client.disconnect()

            options.credentials = Credentials(username: "agent-1", password: "right")
            let accepted = try await connectedClient(options)
            await accepted.disconnect()
        }
    }

    @Test("a process whose descriptors 3 to 1100 are taken still connects: the client polls, select would refuse its socket")
    func descriptorsAbove1023() async throws {
        try await withLocalBroker { broker in
            // bash fills the low descriptors, then becomes `fedmq mqtt connect`, which inherits them.
            let script = """
                ulimit -n 2048 || exit 90
                for fd in $(seq 3 1100); do eval "exec $fd</dev/null"; done
                exec "$0" mqtt connect --port \(broker.port) --client-id high-descriptors
                """
            let (status, output) = try await runToEnd(
                "/bin/bash", ["-c", script, try fedmqExecutable().path], log: broker.directory.appendingPathComponent("high.log").path)
            #expect(status == 0, "\(output)")
            #expect(output.contains("connected to 127.0.0.1:\(broker.port)"), "\(output)")
            #expect(broker.logTail(lines: 200).contains("as high-descriptors"))
        }
    }

    @Test("nothing listening: connect retries, then times out with the reason")
    func connectTimeout() async throws {
        let port = try LoopbackPort.free()
        let client = try MQTTClient(
            options: ConnectionOptions(
                port: port, connectTimeout: .milliseconds(800),
                reconnect: ReconnectPolicy(initialDelay: .milliseconds(50), maximumDelay: .milliseconds(200))))
        let events = client.connectionEvents()
        let error = try await #require(throws: MQTTError.self) { try await client.connect() }
        #expect(error.code == .timeout)
        #expect(error.detail.contains("127.0.0.1:\(port)"))
        #expect(error.detail.contains("Connection refused"))
        await client.disconnect()
        var attempts = 0
        for await case .reconnecting in events { attempts += 1 }
        #expect(attempts >= 2)
    }

    @Test("TLS works with the generated CA; a client that does not trust it gets a TLS error")
    func tls() async throws {
        try await withLocalBroker(LocalBrokerConfiguration(tls: true)) { broker in
            let authority = try #require(broker.certificateAuthority)
            var options = clientOptions(broker)
            options.port = try #require(broker.tlsPort)
            options.tls = TLSOptions(caFile: authority.caCertificate)
            let client = try await connectedClient(options)
            let subscription = try await client.subscribe(to: ["fedmq/test/tls"], qos: .atLeastOnce)
            try await client.publish("fedmq/test/tls", payload: [1, 2, 3])
            #expect(try await messages(subscription, count: 1)[0].payload == [1, 2, 3])
            await client.disconnect()

            let stranger = try CertificateAuthority(directory: broker.directory.appendingPathComponent("other-ca"))
            options.tls = TLSOptions(caFile: stranger.caCertificate)
            let untrusting = try MQTTClient(options: options)
            let error = try await #require(throws: MQTTError.self) { try await untrusting.connect() }
            #expect(error.code == .tls)
            #expect(
                error.detail.contains("likely cause: the broker's certificate is not signed by the CA in '\(stranger.caCertificate)'"),
                "\(error.detail)")
            await untrusting.disconnect()

            // TLS to the plain MQTT port.
            options.port = broker.port
            options.tls = TLSOptions(caFile: authority.caCertificate)
            let wrongPort = try MQTTClient(options: options)
            let plain = try await #require(throws: MQTTError.self) { try await wrongPort.connect() }
            #expect(plain.code == .tls && plain.detail.contains("port \(broker.port) may not be a TLS listener"), "\(plain.detail)")
            await wrongPort.disconnect()
        }
    }

    @Test("client certificates: the broker takes the user name from the certificate, and the ACL applies to it")
    func clientCertificates() async throws {
        let configuration = LocalBrokerConfiguration(
            allowAnonymous: false, aclRules: ["pattern write fedmq/v1/job/status/%u"], tls: true,
            requireClientCertificates: true)
        try await withLocalBroker(configuration) { broker in
            let authority = try #require(broker.certificateAuthority)
            let identity = try authority.issue(commonName: "agent-3")
            var options = clientOptions(broker, id: "agent-3")
            options.port = try #require(broker.tlsPort)
            options.tls = TLSOptions(caFile: authority.caCertificate, certificateFile: identity.certificate, keyFile: identity.key)
            let agent = try await connectedClient(options)
            #expect(try await agent.publish("fedmq/v1/job/status/agent-3", payload: [1]) == .noMatchingSubscribers)
            let denied = try await #require(throws: MQTTError.self) {
                try await agent.publish("fedmq/v1/job/status/agent-4", payload: [1])
            }
            #expect(denied.code == .rejected(.notAuthorized))
            await agent.disconnect()

            options.tls = TLSOptions(caFile: authority.caCertificate)
            let anonymous = try MQTTClient(options: options)
            let error = try await #require(throws: MQTTError.self) { try await anonymous.connect() }
            #expect(error.code == .tls, "got \(error.detail)")
            #expect(error.detail.contains("likely cause: the broker requires a client certificate"), "\(error.detail)")
            await anonymous.disconnect()
        }
    }

    @Test("a missing CA file is named in the error")
    func missingCAFile() throws {
        var options = ConnectionOptions()
        options.tls = TLSOptions(caFile: "/nonexistent/ca.crt")
        let error = try #require(throws: MQTTError.self) { try MQTTClient(options: options) }
        #expect(error.code == .tls)
        #expect(error.detail.contains("/nonexistent/ca.crt"))
    }

    @Test("an MQTT 5 publish where the ACL denies it throws not authorized")
    func aclDenies() async throws {
        let configuration = LocalBrokerConfiguration(
            allowAnonymous: false, users: ["a1": "pw1"],
            aclRules: ["pattern write fedmq/v1/job/round/+/update/%u", "pattern read fedmq/v1/job/global/#"])
        try await withLocalBroker(configuration) { broker in
            var options = clientOptions(broker, id: "a1")
            options.credentials = Credentials(username: "a1", password: "pw1")
            let agent = try await connectedClient(options)
            let own = try await agent.publish("fedmq/v1/job/round/1/update/a1", payload: [1])
            #expect(!own.isFailure)
            let error = try await #require(throws: MQTTError.self) {
                try await agent.publish("fedmq/v1/job/round/1/update/a2", payload: [1])
            }
            #expect(error.code == .rejected(.notAuthorized))
            // In a batch every message is settled, and the first refusal in order is the one thrown.
            let topics = ["a1", "a2", "a3", "a1"].map { "fedmq/v1/job/round/2/update/\($0)" }
            let batchError = try await #require(throws: MQTTError.self) {
                try await agent.publish(topics.map { MQTTMessage(topic: $0, payload: [2], qos: .atLeastOnce, retain: false) })
            }
            #expect(batchError.code == .rejected(.notAuthorized))
            #expect(batchError.detail.contains("update/a2'"), "\(batchError.detail)")
            await agent.disconnect()
        }
    }

    @Test("a publish larger than the broker's maximum packet size throws packet too large")
    func packetTooLarge() async throws {
        try await withLocalBroker(LocalBrokerConfiguration(maxPacketSize: 64 * 1024)) { broker in
            let client = try await connectedClient(clientOptions(broker))
            let error = try await #require(throws: MQTTError.self) {
                try await client.publish("fedmq/test/big", payload: [UInt8](repeating: 1, count: 128 * 1024))
            }
            #expect(error.code == .packetTooLarge)
            #expect(try await client.publish("fedmq/test/small", payload: [1]) == .noMatchingSubscribers)
            await client.disconnect()
        }
    }
}
