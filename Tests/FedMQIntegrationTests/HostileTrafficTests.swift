import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQTransport
import Foundation
import Testing

/// Hostile payloads through the aggregator's real input path: a live process behind a real
/// broker, fed over MQTT.
@Suite("Hostile traffic to a live aggregator", .hangGuard)
struct HostileTrafficTests {
    @Test("10,000 random, truncated, corrupted and poisoned updates: each rejected with a named reason, the honest round completes")
    func tenThousand() async throws {
        try await withLocalBroker(LocalBrokerConfiguration(extraLines: ["max_queued_messages 100000"])) { broker in
            let job = try FederatedJob(broker: broker, job: "hostile", agents: 2, rounds: 1, target: 2, minimum: 2, epochs: 1, normBound: 10)
            let topics = try Topics(job: "hostile")
            let aggregator = try job.startAggregator()
            let attacker = try await connectedClient(clientOptions(broker))
            let retained = try await messages(
                try await attacker.subscribe(to: [topics.globalRound, topics.globalModel], qos: .atLeastOnce), count: 2)
            let round = try ProtocolJSON.decode(RoundAnnouncement.self, from: try #require(retained.first { $0.topic == topics.globalRound }).payload)
            let model = try ModelCodec.decodeModel(try #require(retained.first { $0.topic == topics.globalModel }).payload)

            var random = SplitMix64(seed: 2026)
            func update(_ delta: Parameters, agent: String, base: String = model.sha256, job: String = "hostile", round: Int = round.round) -> [UInt8]
            {
                ModelCodec.encodeUpdate(delta, encoding: .float32, job: job, round: round, agent: agent, baseSHA256: base, examples: 10)
            }
            var zero = model.parameters
            zero.scale(by: 0)
            /// The zero delta with its first value replaced.
            func firstValue(_ value: Float) throws -> Parameters {
                try Parameters(
                    zero.tensors.enumerated().map { index, tensor in
                        var values = tensor.values
                        if index == 0 { values[0] = value }
                        return try Tensor(name: tensor.name, shape: tensor.shape, values: values)
                    })
            }
            let poisoned = try firstValue(.nan)
            let huge = try firstValue(1e6)
            let shapes = try Parameters([try Tensor(name: "W1", shape: [2, 2], values: [1, 2, 3, 4])])
            // Decodable variants carry a wrong base model, so no corruption of them can pass as valid.
            let wrongBase = update(zero, agent: "x", base: String(repeating: "0", count: 64))
            var sent: [(topic: String, payload: [UInt8])] = []
            for index in 0..<10_000 {
                let agent = "x\(index % 97)"
                let topic = topics.update(round: round.round, agent: agent)
                switch index % 10 {
                case 0: sent.append((topic, (0..<Int(random.next() % 3000)).map { _ in UInt8(truncatingIfNeeded: random.next()) }))
                case 1: sent.append((topic, Array(wrongBase.prefix(Int(random.next() % UInt64(wrongBase.count))))))
                case 2:
                    var bytes = wrongBase
                    for _ in 0..<4 { bytes[8 + Int(random.next() % 200)] = UInt8(truncatingIfNeeded: random.next()) }
                    sent.append((topic, bytes))
                case 3: sent.append((topic, update(poisoned, agent: agent)))
                case 4: sent.append((topic, update(huge, agent: agent)))
                case 5: sent.append((topic, update(shapes, agent: agent)))
                case 6: sent.append((topic, update(zero, agent: agent, job: "otherjob")))
                case 7: sent.append((topic, update(zero, agent: "someone-else")))
                case 8: sent.append((topics.update(round: round.round + 1, agent: agent), update(zero, agent: agent, round: round.round + 1)))
                default:
                    sent.append(
                        (
                            topic,
                            index % 20 == 9
                                ? update(zero, agent: agent, base: String(repeating: "0", count: 64))
                                : [UInt8](repeating: 0xFF, count: Int(random.next() % 64))
                        ))
                }
            }
            for (topic, payload) in sent {
                _ = try await attacker.publish(topic, payload: payload, qos: .atLeastOnce, retain: false, messageExpiry: nil, userProperties: [])
            }
            let agents = try (0..<2).map { try job.startAgent($0) }
            let status = try await within(.seconds(150), "the aggregator to finish") { try await aggregator.wait() }
            for agent in agents { await agent.stop() }
            await attacker.disconnect()
            #expect(status == 0, "\(job.log("aggregator").suffix(2000))")
            let metrics = try #require(try job.metrics().first)
            #expect(metrics.participants == ["a0", "a1"])
            #expect(metrics.rejected.values.reduce(0, +) == 10_000, "\(metrics.rejected)")
            #expect(Set(metrics.rejected.keys).isSubset(of: Set(RejectionReason.allCases.map(\.rawValue))))
            for reason in [
                "undecodable", "non_finite", "norm_too_large", "tensor_mismatch", "wrong_job", "sender_mismatch", "wrong_round", "base_mismatch",
            ] {
                #expect((metrics.rejected[reason] ?? 0) > 0, "no update was rejected as \(reason): \(metrics.rejected)")
            }
        }
    }
}
