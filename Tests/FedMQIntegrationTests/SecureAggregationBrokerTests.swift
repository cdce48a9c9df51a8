import FedMQBench
import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation
import Testing

/// Secure aggregation over a real mosquitto: every agent a task with its own MQTT connection,
/// the aggregator's side a task with its own, all messages on FedMQ's secagg topics (per-agent
/// inboxes, the retained unmask request), QoS 1 with message expiry.
@Suite("Secure aggregation over a real broker", .serialized, .hangGuard)
struct SecureAggregationBrokerTests {
    static let job = "secagg"
    static let dimension = 256

    @Test(
        "the unmasked sum equals the plain sum of the survivors' quantized updates, with dropouts after sharing",
        arguments: [(3, 0), (3, 1), (10, 0), (10, 1), (10, 3), (50, 0), (50, 1), (50, 15)])
    func exactSum(cohort: Int, drops: Int) async throws {
        try await withLocalBroker { broker in
            let names = (0..<cohort).map { String(format: "a%02d", $0) }
            let identities = Dictionary(uniqueKeysWithValues: names.map { ($0, SigningKey()) })
            var random = SplitMix64(seed: UInt64(cohort * 100 + drops))
            let quantization = SecAggQuantization(clip: 1, scale: 1_048_576)
            let inputs = try Dictionary(
                uniqueKeysWithValues: names.map { name in
                    let values = (0..<Self.dimension).map { _ in Float(random.nextUnit() * 2 - 1) }
                    return (name, quantization.encode(try Parameters([Tensor(name: "w", shape: [Self.dimension], values: values)]), using: &random))
                })
            let dropping = Set(names.suffix(drops))
            let aggregator = try await connectedClient(clientOptions(broker, id: "aggregator"))
            let incoming = try await aggregator.subscribe(to: [try Topics(job: Self.job).allSecAgg], qos: .atLeastOnce)
            let outcome = try await within(.seconds(200), "the secure round") {
                try await withThrowingTaskGroup(of: SecAggSession.Outcome?.self) { group in
                    group.addTask {
                        try await SecAggSession.aggregate(
                            job: Self.job, round: 1, dimension: Self.dimension, cohort: names, enrolled: identities.mapValues(\.publicKey),
                            dropout: 0.3, corruption: 0.1, client: aggregator, incoming: incoming, survivors: cohort - drops, model: [0])
                    }
                    for name in names {
                        group.addTask {
                            _ = try await SecAggSession.agent(
                                name, job: Self.job, round: 1, identity: identities[name]!,
                                requirements: SecAggRequirements(enrolled: identities.mapValues(\.publicKey), dropoutRate: 0.3, corruptionRate: 0.1),
                                input: inputs[name]!,
                                dropsAfterSharing: dropping.contains(name), options: clientOptions(broker, id: name))
                            return nil
                        }
                    }
                    var result: SecAggSession.Outcome?
                    for try await outcome in group where outcome != nil { result = outcome }
                    return try #require(result)
                }
            }
            await aggregator.disconnect()
            let survivors = outcome.survivors
            #expect(survivors == names.filter { !dropping.contains($0) })
            let plain = survivors.reduce(into: [UInt32](repeating: 0, count: Self.dimension)) { sum, name in
                for (index, word) in inputs[name]!.enumerated() { sum[index] &+= word }
            }
            #expect(outcome.sum == plain)
            // What the aggregator saw of each survivor is masked: no input word shows through.
            #expect(outcome.masked.count == survivors.count)
            for (name, words) in outcome.masked {
                #expect(zip(words, inputs[name]!).filter { $0 == $1 }.count < 3, "\(name)")
            }
        }
    }
}
