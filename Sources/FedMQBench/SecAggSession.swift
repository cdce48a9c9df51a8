import FedMQCommandLine
import FedMQCore
import FedMQProtocol
import FedMQTransport
import Foundation

/// One secure-aggregation round of fixed inputs over MQTT, outside a training job: each agent
/// a task with its own connection, the aggregator's side a task with its own, every message on
/// FedMQ's secagg topics. `fedmq bench secagg` measures it and the broker tests check its sums;
/// jobs run the same state machines inside `fedmq-agent` and `fedmq-aggregator`.
public enum SecAggSession {
    /// What one agent spent: payload bytes it sent and received (the new model included), and
    /// CPU time of its protocol work (keys, shares, masks, reveal, encoding).
    public struct AgentCost: Sendable {
        public var bytesSent = 0
        public var bytesReceived = 0
        public var cpuSeconds = 0.0

        /// No costs yet.
        public init() {}
    }

    /// What the aggregator side of a measured secure round produced: the decoded sum and its survivors.
    public struct Outcome: Sendable {
        public var sum: [UInt32]
        public var survivors: [String]
        /// The masked updates as the aggregator received them.
        public var masked: [String: [UInt32]]
    }

    /// One agent: keys, shares (for a roster that meets `requirements`), then (unless it drops
    /// out after sharing) its masked input and its reveal; then it waits for the round's model
    /// on `global/model`.
    public static func agent(
        _ name: String, job: String, round: Int, identity: SigningKey, requirements: SecAggRequirements, input: [UInt32],
        dropsAfterSharing: Bool, options: ConnectionOptions
    ) async throws -> AgentCost {
        let topics = try Topics(job: job)
        var cost = AgentCost()
        let client = try MQTTClient(options: options)
        try await client.connect()
        let inbox = try await client.subscribe(to: [topics.secAggInbox(agent: name), topics.allSecAggUnmasks, topics.globalModel], qos: .atLeastOnce)
        var random = SystemRandomNumberGenerator()
        var state = try measured(&cost) { () throws(ProtocolError) in
            try SecAggClient(agent: name, job: job, round: round, identity: identity, using: &random)
        }
        func send(_ stage: SecAggStage, _ payload: [UInt8]) async throws {
            cost.bytesSent += payload.count
            _ = try await client.publish(
                topics.secAgg(stage, round: round, agent: name), payload: payload, qos: .atLeastOnce, retain: false, messageExpiry: 300,
                userProperties: [])
        }
        try await send(.keys, ProtocolJSON.encode(state.keys))
        for await message in inbox {
            cost.bytesReceived += message.payload.count
            switch try topics.parse(message.topic) {
            case .secAggInbox(.roster, _, _):
                let roster = try ProtocolJSON.decode(SecAggRoster.self, from: message.payload)
                let shares = try measured(&cost) { () throws(ProtocolError) in
                    try ProtocolJSON.encode(state.rosterReceived(roster, requirements: requirements, using: &random))
                }
                try await send(.shares, shares)
                if dropsAfterSharing {
                    await client.disconnect()
                    return cost
                }
            case .secAggInbox(.delivery, _, _):
                let delivery = try ProtocolJSON.decode(SecAggShareDelivery.self, from: message.payload)
                let masked = try measured(&cost) { () throws(ProtocolError) in
                    try state.deliveryReceived(delivery)
                    return ModelCodec.encodeMasked(try state.maskedInput(input), job: job, round: round, agent: name)
                }
                try await send(.masked, masked)
            case .secAggUnmask:
                let unmask = try ProtocolJSON.decode(SecAggUnmask.self, from: message.payload)
                try await send(.reveal, try measured(&cost) { () throws(ProtocolError) in ProtocolJSON.encode(try state.reveal(unmask)) })
            case .globalModel:
                await client.disconnect()
                return cost
            default:
                continue
            }
        }
        return cost
    }

    /// The aggregator's side, with `incoming` subscribed to `allSecAgg` before any agent starts
    /// (as the aggregator is before a round opens). Each stage ends when every agent it waits
    /// for has answered; the masking stage when `survivors` masked updates are in (what its
    /// deadline would do with the agents that dropped out). Publishes `model` as the round's
    /// result on `global/model`.
    public static func aggregate(
        job: String, round: Int, dimension: Int, cohort: [String], enrolled: [String: VerifyingKey], dropout: Double, corruption: Double,
        client: MQTTClient, incoming: MQTTSubscription, survivors: Int, model: [UInt8]
    ) async throws -> Outcome {
        let topics = try Topics(job: job)
        var server = SecAggServer(
            job: job, round: round, dimension: dimension, cohort: Set(cohort), enrolled: enrolled, dropout: dropout, corruption: corruption,
            seed: UInt64.random(in: 0...UInt64.max))
        var masked: [String: [UInt32]] = [:]
        func publish(_ topic: String, _ payload: [UInt8]) async throws {
            _ = try await client.publish(topic, payload: payload, qos: .atLeastOnce, retain: true, messageExpiry: 300, userProperties: [])
        }
        for await message in incoming {
            guard case .secAgg(let stage, _, let agent) = try topics.parse(message.topic) else { continue }
            switch stage {
            case .keys: try server.keysReceived(from: agent, ProtocolJSON.decode(SecAggKeys.self, from: message.payload))
            case .shares: try server.sharesReceived(from: agent, ProtocolJSON.decode(SecAggShares.self, from: message.payload))
            case .masked:
                let words = try ModelCodec.decodeMasked(message.payload, job: job, round: round, agent: agent, dimension: dimension)
                masked[agent] = words
                try server.maskedReceived(from: agent, words)
            case .reveal: try server.revealReceived(from: agent, ProtocolJSON.decode(SecAggReveal.self, from: message.payload))
            }
            let stageDone = server.stage == .collectingMasked ? masked.count == survivors : server.waitingFor.isEmpty
            guard stageDone else { continue }
            switch server.stage {
            case .collectingKeys:
                for roster in try server.closeKeys() {
                    try await publish(topics.secAggInbox(.roster, round: round, agent: roster.agent), ProtocolJSON.encode(roster))
                }
            case .collectingShares:
                for delivery in try server.closeShares() {
                    try await publish(topics.secAggInbox(.delivery, round: round, agent: delivery.agent), ProtocolJSON.encode(delivery))
                }
            case .collectingMasked:
                try await publish(topics.secAggUnmask(round: round), ProtocolJSON.encode(try server.closeMasking()))
            case .collectingReveals where server.canFinish:
                let (sum, survivors) = try server.finish()
                try await publish(topics.globalModel, model)
                return Outcome(sum: sum, survivors: survivors, masked: masked)
            default:
                continue
            }
        }
        throw ProtocolError.secureAggregation("the aggregator's subscription ended before the round did")
    }

    /// Runs `work`, adding the CPU time it took on this thread to `cost`.
    public static func measured<Result, Failure: Error>(_ cost: inout AgentCost, _ work: () throws(Failure) -> Result) throws(Failure) -> Result {
        let start = threadCPUSeconds()
        defer { cost.cpuSeconds += threadCPUSeconds() - start }
        return try work()
    }

    static func threadCPUSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
