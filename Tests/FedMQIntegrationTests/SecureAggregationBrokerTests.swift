import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQTransport
import Foundation
import Testing

/// Secure aggregation over a real mosquitto: every agent a task with its own MQTT connection,
/// the aggregator's side a task with its own, all messages on FedMQ's secagg topics (per-agent
/// inboxes, the retained unmask request), QoS 1 with message expiry.
@Suite("Secure aggregation over a real broker", .serialized, .timeLimit(.minutes(4)))
struct SecureAggregationBrokerTests {
    static let job = "secagg"
    static let dimension = 256

    /// One agent: keys, then shares, then (unless it drops out after sharing) its masked input
    /// and its reveal.
    static func agent(
        _ name: String, identity: SigningKey, input: [UInt32], dropsAfterSharing: Bool, broker: LocalBroker
    ) async throws {
        let topics = try Topics(job: job)
        let client = try await connectedClient(clientOptions(broker, id: name))
        let inbox = try await client.subscribe(to: [topics.secAggInbox(agent: name), topics.allSecAggUnmasks], qos: .atLeastOnce)
        var random = SystemRandomNumberGenerator()
        var state = try SecAggClient(agent: name, job: job, round: 1, identity: identity, using: &random)
        func send(_ stage: SecAggStage, _ payload: [UInt8]) async throws {
            _ = try await client.publish(
                topics.secAgg(stage, round: 1, agent: name), payload: payload, qos: .atLeastOnce, retain: false, messageExpiry: 60,
                userProperties: [])
        }
        try await send(.keys, ProtocolJSON.encode(state.keys))
        for await message in inbox {
            switch try topics.parse(message.topic) {
            case .secAggInbox(.roster, _, _):
                let roster = try ProtocolJSON.decode(SecAggRoster.self, from: message.payload)
                try await send(.shares, ProtocolJSON.encode(try state.rosterReceived(roster, enrolled: nil, using: &random)))
                if dropsAfterSharing {
                    await client.disconnect()
                    return
                }
            case .secAggInbox(.delivery, _, _):
                try state.deliveryReceived(try ProtocolJSON.decode(SecAggShareDelivery.self, from: message.payload))
                try await send(.masked, ModelCodec.encodeMasked(try state.maskedInput(input), job: job, round: 1, agent: name))
            case .secAggUnmask:
                try await send(.reveal, ProtocolJSON.encode(try state.reveal(ProtocolJSON.decode(SecAggUnmask.self, from: message.payload))))
                await client.disconnect()
                return
            default:
                continue
            }
        }
    }

    struct Outcome: Sendable {
        var sum: [UInt32]
        var survivors: [String]
        /// The masked updates as the aggregator received them.
        var masked: [String: [UInt32]]
    }

    /// The aggregator's side: closes each stage when every expected agent answered (the masking
    /// stage: when `survivors` masked updates are in, standing in for its deadline, which a
    /// loaded test machine could reach before a slow honest agent answers), publishes what the
    /// next stage needs.
    /// `incoming` is subscribed before any agent starts, as the aggregator is before a round opens.
    static func aggregate(
        cohort: [String], enrolled: [String: VerifyingKey], client: MQTTClient, incoming: MQTTSubscription, survivors: Int
    ) async throws -> Outcome {
        let topics = try Topics(job: job)
        var server = SecAggServer(
            job: job, round: 1, dimension: dimension, cohort: Set(cohort), enrolled: enrolled, dropout: 0.3, corruption: 0.1, seed: 7)
        var seenMasked: [String: [UInt32]] = [:]
        func publish(_ topic: String, _ payload: [UInt8]) async throws {
            _ = try await client.publish(topic, payload: payload, qos: .atLeastOnce, retain: true, messageExpiry: 60, userProperties: [])
        }
        for await message in incoming {
            guard case .secAgg(let stage, _, let agent) = try topics.parse(message.topic) else { continue }
            switch stage {
            case .keys: try server.keysReceived(from: agent, ProtocolJSON.decode(SecAggKeys.self, from: message.payload))
            case .shares: try server.sharesReceived(from: agent, ProtocolJSON.decode(SecAggShares.self, from: message.payload))
            case .masked:
                let words = try ModelCodec.decodeMasked(message.payload, job: job, round: 1, agent: agent, dimension: dimension)
                seenMasked[agent] = words
                try server.maskedReceived(from: agent, words)
            case .reveal: try server.revealReceived(from: agent, ProtocolJSON.decode(SecAggReveal.self, from: message.payload))
            }
            let stageDone = server.stage == .collectingMasked ? seenMasked.count == survivors : server.waitingFor.isEmpty
            guard stageDone else { continue }
            switch server.stage {
            case .collectingKeys:
                for roster in try server.closeKeys() { try await publish(topics.secAggInbox(.roster, round: 1, agent: roster.agent), ProtocolJSON.encode(roster)) }
            case .collectingShares:
                for delivery in try server.closeShares() {
                    try await publish(topics.secAggInbox(.delivery, round: 1, agent: delivery.agent), ProtocolJSON.encode(delivery))
                }
            case .collectingMasked:
                try await publish(topics.secAggUnmask(round: 1), ProtocolJSON.encode(try server.closeMasking()))
            case .collectingReveals where server.canFinish:
                let (sum, survivors) = try server.finish()
                await client.disconnect()
                return Outcome(sum: sum, survivors: survivors, masked: seenMasked)
            default:
                continue
            }
        }
        throw TimedOut(what: "the secure round")
    }

    @Test(
        "the unmasked sum equals the plain sum of the survivors' quantized updates, with dropouts after sharing",
        arguments: [(3, 0), (3, 1), (10, 0), (10, 1), (10, 3), (50, 0), (50, 1), (50, 15)])
    func exactSum(cohort: Int, drops: Int) async throws {
        try await withLocalBroker { broker in
            let names = (0..<cohort).map { String(format: "a%02d", $0) }
            let identities = Dictionary(uniqueKeysWithValues: names.map { ($0, SigningKey()) })
            var random = SplitMix64(seed: UInt64(cohort * 100 + drops))
            let quantization = SecAggQuantization(clip: 1, scale: 1_048_576)
            let inputs = try Dictionary(uniqueKeysWithValues: names.map { name in
                let values = (0..<Self.dimension).map { _ in Float(random.nextUnit() * 2 - 1) }
                return (name, quantization.encode(try Parameters([Tensor(name: "w", shape: [Self.dimension], values: values)]), using: &random))
            })
            let dropping = Set(names.suffix(drops))
            let aggregator = try await connectedClient(clientOptions(broker, id: "aggregator"))
            let incoming = try await aggregator.subscribe(to: [try Topics(job: Self.job).allSecAgg], qos: .atLeastOnce)
            let outcome = try await within(.seconds(200), "the secure round") {
                try await withThrowingTaskGroup(of: Outcome?.self) { group in
                    group.addTask {
                        try await Self.aggregate(
                            cohort: names, enrolled: identities.mapValues(\.publicKey), client: aggregator, incoming: incoming, survivors: cohort - drops)
                    }
                    for name in names {
                        group.addTask {
                            try await Self.agent(name, identity: identities[name]!, input: inputs[name]!, dropsAfterSharing: dropping.contains(name), broker: broker)
                            return nil
                        }
                    }
                    var result: Outcome?
                    for try await outcome in group where outcome != nil { result = outcome }
                    return try #require(result)
                }
            }
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
