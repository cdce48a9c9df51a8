import FedMQAgent
import FedMQCore
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation
import Prometheus
import Synchronization
import Testing

/// Asynchronous jobs with the real runtimes on the in-memory broker.
@Suite("Asynchronous jobs as services", .hangGuard)
struct AsynchronousServiceTests {
    static func policy(_ fleet: RuntimeFleet, versions: Int) -> RoundPolicy {
        var policy = fleet.policy(rounds: versions, target: 2, minimum: 2)
        policy.mode = .asynchronous
        policy.asynchronous = AsynchronousSettings(maxStaleness: 3, staleness: StalenessWeight(function: .polynomial, exponent: 1))
        return policy
    }

    /// Every update a subscription saw, by agent and round.
    struct Observed {
        var models: [Int: GlobalModel] = [:]
        var updates: [String: [UInt8]] = [:]

        static func key(_ agent: String, _ round: Int) -> String { "\(agent)@\(round)" }
    }

    @Test("a late update counts a version later, weighted; every version is its buffer's staleness-weighted mean, each update counted once")
    func wholeJob() async throws {
        let fleet = try RuntimeFleet()
        let seen = try await fleet.observe([fleet.topics.globalModel, fleet.topics.allUpdates])
        // Buffers of three from a fleet of three; two updates make a version once round_seconds passed.
        var policy = Self.policy(fleet, versions: 3)
        policy.targetUpdates = 3
        let registry = PrometheusCollectorRegistry()
        let aggregator = fleet.aggregator(fleet.aggregatorConfig(policy: policy), metrics: registry)
        // a2's first training ends only once version 1 is out: its update is a version late.
        let (versionOne, versionOneOut) = AsyncStream.makeStream(of: Void.self)
        let firstTraining = Mutex(true)
        let slow: AgentRuntime.Training = { base, config, data, seed in
            if firstTraining.withLock({ first in
                defer { first = false }
                return first
            }) {
                for await _ in versionOne { break }
            }
            return AgentRuntime.train(base: base, config: config, data: data, seed: seed)
        }
        let agents = try (0..<2).map { fleet.agent(try fleet.agentConfig($0)) } + [fleet.agent(try fleet.agentConfig(2), training: slow)]
        await fleet.logs.wait(for: 2, from: "aggregator", containing: "accepted update")
        fleet.clock.advance(by: 60)
        await fleet.logs.wait(for: 1, from: "aggregator", containing: "round closed")
        versionOneOut.yield()
        try await aggregator.finished()

        var observed = Observed()
        _ = try await seen.first { message -> GlobalModel? in
            if message.topic == fleet.topics.globalModel {
                let model = try ModelCodec.decodeModel(message.payload)
                observed.models[model.round] = model
                return model.round == 3 ? model : nil
            }
            guard case .update(let round, let agent) = try fleet.topics.parse(message.topic) else { return nil }
            observed.updates[Observed.key(agent, round)] = message.payload
            return nil
        }
        let announcement = try #require(try fleet.retained(RoundAnnouncement.self, on: fleet.topics.globalRound))
        #expect(announcement.asynchronous?.maxStaleness == 3)
        let metrics = try fleet.metricsLog()
        #expect(metrics.map(\.round) == [1, 2, 3])
        #expect(metrics.map(\.updates) == [2, 3, 3])
        #expect(metrics.prefix(2).map { $0.staleness?.agents } == [["a0": 0, "a1": 0], ["a0": 0, "a1": 0, "a2": 1]])
        // a2 trains round 2 or 3 next, as it had or had not seen round 2 open when it published.
        #expect(Set(metrics[2].participants) == ["a0", "a1", "a2"])
        for version in metrics {
            let staleness = try #require(version.staleness)
            // Version r from version r - 1 by hand: Σ w(s)·n·Δ / Σ n over the buffer's updates.
            let previous = try #require(observed.models[version.round - 1])
            let base = previous.parameters.tensors.flatMap(\.values)
            var sum = [Double](repeating: 0, count: base.count)
            var totalExamples = 0.0
            for (agent, age) in staleness.agents {
                let trainedFor = version.round - age
                let payload = try #require(observed.updates[Observed.key(agent, trainedFor)])
                let file = try SafetensorsDecoder.decode(payload)
                let trainedOn = try #require(observed.models[trainedFor - 1])
                #expect(file.metadata[ModelCodec.Key.baseSHA256] == trainedOn.sha256, "trained on the version its round names")
                let delta = try ModelCodec.delta(of: file, like: trainedOn.parameters).tensors.flatMap(\.values)
                let examples = Double(file.metadata[ModelCodec.Key.examples] ?? "") ?? 0
                let weight = 1 / Double(1 + age)
                for index in sum.indices { sum[index] += weight * examples * Double(delta[index]) }
                totalExamples += examples
            }
            let made = try #require(observed.models[version.round]).parameters.tensors.flatMap(\.values)
            for index in sum.indices {
                #expect(
                    abs(Double(made[index]) - (Double(base[index]) + sum[index] / totalExamples)) < 1e-5, "version \(version.round), entry \(index)")
            }
        }
        // Prometheus counts every applied update's staleness.
        let exposition = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(exposition.contains(#"fedmq_update_staleness_versions_count{job="plant"} 8"#), "\(exposition)")
        #expect(exposition.contains(#"fedmq_update_staleness_versions_bucket{job="plant",le="0.0"} \#(8 - (metrics[2].staleness?.max ?? 0) - 1)"#))
        for agent in agents { try await agent.stop() }
    }

    @Test("an aggregator killed with a half-full buffer resumes it from its spool; nothing counts twice")
    func crashResume() async throws {
        let fleet = try RuntimeFleet()
        let config = fleet.aggregatorConfig(policy: Self.policy(fleet, versions: 2))
        let first = fleet.aggregator(config)
        let a0 = fleet.agent(try fleet.agentConfig(0))
        await fleet.logs.wait(for: 1, from: "aggregator", containing: "accepted update")
        await first.kill(clientID: fleet.aggregatorClientID, on: fleet.broker)

        let second = fleet.aggregator(config)
        await fleet.logs.wait(for: 1, from: "aggregator", containing: "with 1 spooled update(s)")
        let others = try (1..<3).map { fleet.agent(try fleet.agentConfig($0)) }
        try await second.finished()
        let metrics = try fleet.metricsLog()
        #expect(metrics.map(\.round) == [1, 2])
        #expect(metrics.first?.participants.contains("a0") == true, "a0's spooled update counted in version 1")
        #expect(metrics.allSatisfy { $0.updates == 2 })
        for agent in [a0] + others { try await agent.stop() }
    }
}
