import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation
import Testing

/// Signed updates with real processes on a broker that lets anyone publish anywhere (no ACL):
/// the keys alone decide whose update counts and which model agents train on.
@Suite("Signed updates with real processes", .hangGuard)
struct SignedJobTests {
    @Test("an impostor and an unenrolled sender are rejected by name, enrolled agents finish the job, the retained model carries a valid signature")
    func keysDecide() async throws {
        try await withLocalBroker { broker in
            let directory = broker.directory.appendingPathComponent("keys")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let aggregatorIdentity = SigningKey()
            try IdentityFiles.write(aggregatorIdentity, to: directory.appendingPathComponent("aggregator.key").path)
            var enrolled: [String: VerifyingKey] = [:]
            for index in 0..<3 {
                let key = SigningKey()
                try IdentityFiles.write(key, to: directory.appendingPathComponent("a\(index).key").path)
                enrolled["a\(index)"] = key.publicKey
            }
            let enrolmentPath = directory.appendingPathComponent("enrolment.json").path
            try JSONEncoder().encode(Enrolment(aggregator: aggregatorIdentity.publicKey, agents: enrolled))
                .write(to: URL(fileURLWithPath: enrolmentPath))
            let keyMode = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("a0.key").path)[.posixPermissions] as? Int
            #expect(keyMode == 0o600)

            let job = try FederatedJob(
                broker: broker, job: "signed", agents: 3, rounds: 3, target: 3, minimum: 3, epochs: 1,
                extraConfig: ["identity_key": directory.appendingPathComponent("aggregator.key").path, "enrolment": enrolmentPath])
            let topics = try Topics(job: "signed")
            let aggregator = try job.startAggregator()

            // Before any agent runs: an impostor signs "a1's" update with its own key, and a sender
            // outside the enrolment sends an unsigned one. The broker delivers both.
            let attacker = try await connectedClient(clientOptions(broker))
            let rounds = try await attacker.subscribe(to: [topics.globalRound, topics.globalModel], qos: .atLeastOnce)
            let retained = try await messages(rounds, count: 2)
            let announcement = try ProtocolJSON.decode(
                RoundAnnouncement.self, from: try #require(retained.first { $0.topic == topics.globalRound }).payload)
            let model = try #require(retained.first { $0.topic == topics.globalModel })
            let signature = try #require(model.signature)
            #expect(aggregatorIdentity.publicKey.verifies(signature, for: SignedStatement.model(job: "signed", payload: model.payload)))
            let global = try ModelCodec.decodeModel(model.payload)
            for agent in ["a1", "a9"] {
                let payload = ModelCodec.encodeUpdate(
                    global.parameters, encoding: .float32, job: "signed", round: announcement.round, agent: agent,
                    baseSHA256: global.sha256, examples: 100)
                let forged =
                    agent == "a1"
                    ? [
                        UserProperty(
                            SignedStatement.property,
                            SigningKey().sign(
                                SignedStatement.update(
                                    job: "signed", round: announcement.round, baseSHA256: global.sha256, agent: agent, payload: payload)))
                    ]
                    : []
                _ = try await attacker.publish(
                    topics.update(round: announcement.round, agent: agent), payload: payload, qos: .atLeastOnce, retain: false,
                    messageExpiry: nil, userProperties: forged)
            }
            try await eventually("both forgeries to be rejected") { job.log("aggregator").components(separatedBy: "rejected update").count == 3 }

            let agents = try (0..<3).map { index in
                try job.startAgent(
                    index,
                    extra: [
                        "--identity-key", directory.appendingPathComponent("a\(index).key").path,
                        "--aggregator-key", aggregatorIdentity.publicKey.base64,
                    ])
            }
            let status = try await within(.seconds(120), "the aggregator to finish") { try await aggregator.wait() }
            #expect(status == 0, "aggregator log:\n\(job.log("aggregator").suffix(2000))")
            let metrics = try job.metrics()
            #expect(metrics.map(\.round) == [1, 2, 3])
            #expect(metrics[0].rejected == ["bad_signature": 1, "unsigned": 1])
            #expect(metrics.allSatisfy { $0.participants == ["a0", "a1", "a2"] })

            // A forged model on global/model (the broker lets anyone publish there): agents refuse it.
            let forgedModel = ModelCodec.encodeModel(global.parameters, spec: global.spec, job: "signed", round: 99)
            _ = try await attacker.publish(
                topics.globalModel, payload: forgedModel, qos: .atLeastOnce, retain: false, messageExpiry: nil, userProperties: [])
            try await eventually("agent a0 to refuse the unsigned model") {
                job.log("agent-0").contains("global model refused: not signed, and this agent trusts only its aggregator's key")
            }
            for agent in agents { await agent.stop() }
            await attacker.disconnect()
        }
    }
}
