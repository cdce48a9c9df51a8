import FedMQAgent
import FedMQAggregator
import FedMQCore
import FedMQProtocol
import FedMQRuntime
import Foundation
import Testing

/// Analytics jobs through the real runtimes: agents answer the queries from their own CSV files
/// and the aggregator's metrics carry the fleet's answers.
@Suite("Analytics jobs through the services", .hangGuard)
struct AnalyticsServiceTests {
    /// Agent `index`'s readings: `rows` rows of temperature, humidity and a label, with a header.
    static func readings(_ index: Int, rows: Int) -> [(temperature: Double, humidity: Double, label: Int)] {
        var random = SplitMix64(seed: UInt64(100 + index))
        return (0..<rows).map { row in
            (Double(Int(random.nextUnit() * 5000)) / 100 - 10, Double(Int(random.nextUnit() * 1000)) / 10, row % 3 == 0 ? 1 : 0)
        }
    }

    static func agentConfig(_ fleet: RuntimeFleet, _ index: Int, rows: Int, header: String = "temperature,humidity,label") throws -> AgentConfig {
        let lines = [header] + readings(index, rows: rows).map { "\($0.temperature),\($0.humidity),\($0.label)" }
        let path = fleet.path("readings-\(index).csv")
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        var config = AgentConfig(agent: "a\(index)", job: fleet.job, dataCSV: path, stateDirectory: fleet.path("agent-\(index)"))
        config.dataLabel = "label"
        return config
    }

    static let queries = [
        AnalyticsQuery(.count), AnalyticsQuery(.mean, column: "temperature", range: -10...40),
        AnalyticsQuery(.variance, column: "humidity", range: 0...100), AnalyticsQuery(.sum, column: "label", range: 0...1),
    ]

    func policy(_ fleet: RuntimeFleet, target: Int, analytics: AnalyticsSettings) -> RoundPolicy {
        var policy = RoundPolicy(rounds: 1, targetUpdates: target, minUpdates: target, roundSeconds: 60)
        policy.analytics = analytics
        return policy
    }

    func aggregatorConfig(_ fleet: RuntimeFleet, _ policy: RoundPolicy) -> AggregatorConfig {
        AggregatorConfig(job: fleet.job, policy: policy, stateDirectory: fleet.path("aggregator"))
    }

    @Test("three agents' answers equal the statistics of their records pooled; an agent asked for a column it lacks says so")
    func pooledAnswers() async throws {
        let fleet = try RuntimeFleet()
        let rows = [30, 45, 60]
        let aggregator = fleet.aggregator(aggregatorConfig(fleet, policy(fleet, target: 3, analytics: AnalyticsSettings(queries: Self.queries))))
        var agents = try rows.indices.map { index in
            var config = try Self.agentConfig(fleet, index, rows: rows[index])
            // Held-out rows are records too: they count in every answer.
            if index == 0 { config.holdoutFraction = 0.2 }
            return fleet.agent(config)
        }
        // A fourth agent whose file names its columns otherwise: it sits the round out and says why.
        agents.append(fleet.agent(try Self.agentConfig(fleet, 3, rows: 10, header: "t,humidity,label")))
        try await aggregator.finished()

        let metrics = try #require(try fleet.metricsLog().first)
        #expect(metrics.participants == ["a0", "a1", "a2"])
        let pooled = rows.indices.flatMap { Self.readings($0, rows: rows[$0]) }
        let answers = try #require(metrics.analytics)
        #expect(answers.map(\.query) == ["count", "mean:temperature:-10.0:40.0", "variance:humidity:0.0:100.0", "sum:label:0.0:1.0"])
        #expect(abs((answers[0].value ?? 0) - 135) < 1e-3)
        #expect(abs((answers[1].value ?? 0) - pooled.map(\.temperature).reduce(0, +) / 135) < 1e-3)
        let humidity = pooled.map(\.humidity)
        let mean = humidity.reduce(0, +) / 135
        #expect(abs((answers[2].value ?? 0) - humidity.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 135) < 0.05)
        #expect(abs((answers[3].value ?? 0) - Double(pooled.map(\.label).reduce(0, +))) < 1e-3)
        #expect(metrics.epsilon == nil, "no privacy was asked for, and none is claimed")

        await fleet.logs.wait(from: "a3", containing: "column 'temperature' is not in the local data (columns: t, humidity, label)")
        for agent in agents { try await agent.stop() }
    }

    @Test("record-level central privacy: the epsilon, the unit it protects and answers within the noise's reach")
    func recordLevelPrivacy() async throws {
        let fleet = try RuntimeFleet()
        let analytics = AnalyticsSettings(queries: Self.queries, maxRecords: 50, level: .record)
        var policy = policy(fleet, target: 3, analytics: analytics)
        policy.privacy = ClientPrivacy(mode: .central, clipNorm: 0, noiseMultiplier: 2, delta: 1e-5, accountant: .pld)
        let aggregator = fleet.aggregator(aggregatorConfig(fleet, policy))
        let agents = try (0..<3).map { fleet.agent(try Self.agentConfig(fleet, $0, rows: 40)) }
        try await aggregator.finished()

        let metrics = try #require(try fleet.metricsLog().first)
        let announced = try #require(try fleet.retained(RoundAnnouncement.self, on: fleet.topics.globalRound))
        #expect(announced.privacy?.clipNorm == analytics.sensitivity, "the clip norm is the queries' record-level sensitivity")
        // C = √(1 + 2 + 3 + 2), D = √(0 + 4 + 4 + 4): Δ = max(C/50, D/51).
        #expect(abs(analytics.sensitivity - 12.0.squareRoot() / 51) < 1e-12)
        // One Gaussian release at multiplier 2: its exact epsilon.
        #expect(abs((metrics.epsilon ?? 0) - AnalyticGaussian.epsilon(delta: 1e-5, sigma: 2)) < 1e-6)
        #expect(metrics.threatModel?.contains("one record of one agent (each agent weighing at most 50 records)") == true)
        // The count's noise: σ = 2·Δ on the summed vector, times 50 records: about 7 records.
        let count = try #require(metrics.analytics?.first?.value)
        #expect(abs(count - 120) < 10 * 2 * analytics.sensitivity * 50)
        for agent in agents { try await agent.stop() }
    }

    @Test("under secure aggregation with distributed record-level noise, only the sum is decoded and the answers hold")
    func secureAnswers() async throws {
        let fleet = try RuntimeFleet()
        let aggregatorKey = try fleet.enrol(agents: 3)
        let analytics = AnalyticsSettings(queries: Self.queries, maxRecords: 50, level: .record)
        var policy = policy(fleet, target: 3, analytics: analytics)
        policy.secureAggregation = SecureAggregationSettings(dropoutRate: 0, quantization: SecAggQuantization(clip: 1, scale: 1_048_576))
        policy.privacy = ClientPrivacy(mode: .distributed, clipNorm: 0, noiseMultiplier: 1, expectedCohort: 3)
        let aggregator = fleet.aggregator(fleet.enrolled(aggregatorConfig(fleet, policy)))
        let agents = try (0..<3).map { index in
            fleet.agent(fleet.enrolled(try Self.agentConfig(fleet, index, rows: 40), index, aggregator: aggregatorKey))
        }
        try await aggregator.finished()

        let metrics = try #require(try fleet.metricsLog().first)
        #expect(metrics.secureAggregation?.failure == nil && metrics.participants == ["a0", "a1", "a2"])
        #expect(metrics.threatModel?.contains("secure aggregation: it decodes only the sum") == true)
        #expect(metrics.threatModel?.contains("one record of one agent") == true)
        #expect(fleet.logs.lines(from: "aggregator", containing: "accepted update").isEmpty, "no single vector was readable")
        // The sum carries noise of σ = 1·Δ on the vector: √12 · 50/51 ≈ 3.4 records on the count.
        let pooled = (0..<3).flatMap { Self.readings($0, rows: 40) }
        let answers = try #require(metrics.analytics)
        #expect(abs((answers[0].value ?? 0) - 120) < 10 * analytics.sensitivity * 50)
        let mean = pooled.map(\.temperature).reduce(0, +) / 120
        // And about 25 · 3.4 / 120 ≈ 0.7 degrees on the mean: within 10 σ of the pooled one.
        #expect(abs((answers[1].value ?? 0) - mean) < 8)
        for agent in agents { try await agent.stop() }
    }

    @Test("a state directory with an unfinished round of other queries is refused; a finished job takes new queries as its next round")
    func changedQueries() async throws {
        let fleet = try RuntimeFleet()
        let first = fleet.aggregator(aggregatorConfig(fleet, policy(fleet, target: 2, analytics: AnalyticsSettings(queries: Self.queries))))
        await fleet.logs.wait(from: "aggregator", containing: "starting rounds job")
        try await first.stop()
        let other = AnalyticsSettings(queries: [AnalyticsQuery(.count)])
        let refused = fleet.aggregator(aggregatorConfig(fleet, policy(fleet, target: 2, analytics: other)))
        await #expect {
            try await refused.finished()
        } throws: { "\($0)".contains("holds an unfinished round of other analytics queries: ask those again to finish it") }
        // The same queries finish round 1; then the other ones are round 2 of the same job.
        let resumed = fleet.aggregator(aggregatorConfig(fleet, policy(fleet, target: 2, analytics: AnalyticsSettings(queries: Self.queries))))
        let agents = try (0..<2).map { fleet.agent(try Self.agentConfig(fleet, $0, rows: 20)) }
        try await resumed.finished()
        var next = policy(fleet, target: 2, analytics: other)
        next.rounds = 2
        try await fleet.aggregator(aggregatorConfig(fleet, next)).finished()
        let metrics = try fleet.metricsLog()
        #expect(metrics.map(\.round) == [1, 2])
        #expect(metrics.last?.analytics?.map(\.query) == ["count"] && abs((metrics.last?.analytics?.first?.value ?? 0) - 40) < 1e-3)
        for agent in agents { try await agent.stop() }
    }
}
