import FedMQCore
import FedMQProtocol
import Foundation
import Testing

/// Analytics rounds in memory: what the aggregator refuses to run, what an agent refuses to
/// answer, and the bounds both sides hold an agent's vector to.
@Suite("Analytics rounds")
struct AnalyticsRoundTests {
    static let analytics = AnalyticsSettings(
        queries: [AnalyticsQuery(.count), AnalyticsQuery(.mean, column: "t", range: 0...10)], maxRecords: 20, level: .record)
    static let spec = ModelSpec.statistics(analytics)

    static func policy(_ change: (inout RoundPolicy) -> Void = { _ in }) -> RoundPolicy {
        var policy = RoundPolicy(rounds: 1, targetUpdates: 2, minUpdates: 2, roundSeconds: 60)
        policy.analytics = analytics
        change(&policy)
        return policy
    }

    static func machine(_ policy: RoundPolicy = policy()) throws -> AggregatorStateMachine {
        try AggregatorStateMachine(job: Fixture.job, policy: policy, spec: spec, initial: try spec.initialParameters(seed: 0), now: 1000)
    }

    static func vector(_ values: [Float]) throws -> Parameters {
        try Parameters([Tensor(name: StatisticsLayout.tensorName, shape: [values.count], values: values)])
    }

    @Test("a policy an analytics job cannot keep is refused by name")
    func refusedPolicies() {
        let refusals: [(String, (inout RoundPolicy) -> Void)] = [
            ("weighting 'uniform'", { $0.weighting = .examples }),
            ("strategy 'mean'", { $0.strategy = StrategyConfig(name: "median") }),
            ("mode 'rounds'", { $0.mode = .asynchronous }),
            ("leave out evaluate_every", { $0.evaluateEvery = 1 }),
            ("leave out norm_bound", { $0.normBound = 3 }),
            ("leave out training.dp_sgd", { $0.training.dpSGD = DPSGDConfig(clipNorm: 1, noiseMultiplier: 1, samplingRate: 0.1) }),
            ("leave privacy.clip_norm out", { $0.privacy = ClientPrivacy(mode: .central, clipNorm: 1, noiseMultiplier: 1) }),
            (
                "quantization.clip of at least 1",
                { $0.secureAggregation = SecureAggregationSettings(quantization: SecAggQuantization(clip: 0.5, scale: 1024)) }
            ),
            ("analytics query 'mean:t:1.0:1.0'", { $0.analytics?.queries.append(AnalyticsQuery(.mean, column: "t", range: 1...1)) }),
        ]
        for (reason, change) in refusals {
            #expect {
                try Self.policy(change).validate()
            } throws: { error in
                "\(error)".contains(reason)
            }
        }
        #expect(throws: Never.self) {
            try Self.policy { $0.privacy = ClientPrivacy(mode: .central, clipNorm: Self.analytics.sensitivity, noiseMultiplier: 1) }.validate()
        }
    }

    @Test("analytics quantization: clip 1 and 2^24 over the cohort rounded up to a power of two, within 2^31 with noise")
    func quantization() throws {
        #expect(SecAggQuantization.analytics(cohort: 3) == SecAggQuantization(clip: 1, scale: 4_194_304))
        #expect(SecAggQuantization.analytics(cohort: 100).scale == 131_072)
        try SecAggQuantization.analytics(cohort: 10_000).validate(cohort: 10_000, noiseSigma: 1e6)
    }

    @Test("an agent refuses an announcement whose noise is sized below the queries' sensitivity")
    func understatedSensitivity() throws {
        let aggregator = try Self.machine(Self.policy { $0.privacy = ClientPrivacy(mode: .local, clipNorm: 0, noiseMultiplier: 1) })
        #expect(aggregator.announcement.privacy?.clipNorm == Self.analytics.sensitivity)
        var forged = aggregator.announcement
        forged.privacy?.clipNorm = Self.analytics.sensitivity / 10
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0)
        _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
        let actions = agent.roundReceived(ProtocolJSON.encode(forged), now: 1001)
        #expect(actions.contains { if case .ignored(let reason) = $0 { reason.contains("below the analytics queries' sensitivity") } else { false } })
        #expect(agent.trainingRound == nil)
        // The true announcement is answered with statistics, not training.
        let answered = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1002)
        #expect(answered.contains { if case .computeStatistics(1, _, Self.analytics) = $0 { true } else { false } })
    }

    @Test("an agent refuses a global model that is not the queries' statistics vector")
    func wrongModel() throws {
        let aggregator = try Self.machine()
        var announcement = aggregator.announcement
        let other = ModelSpec(kind: .statistics, inputs: Self.spec.inputs + 1, outputs: 1)
        let bytes = ModelCodec.encodeModel(try other.initialParameters(seed: 0), spec: other, job: Fixture.job, round: 0)
        announcement.baseModelSHA256 = ModelCodec.sha256(bytes)
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0)
        _ = agent.modelReceived(bytes, now: 1001)
        let actions = agent.roundReceived(ProtocolJSON.encode(announcement), now: 1001)
        #expect(actions.contains { if case .refused(1, let reason) = $0 { reason.contains("not the statistics vector") } else { false } })
    }

    @Test("the vector goes out whole, clipped to C and noised for Δ; a vector beyond C is refused")
    func agentVector() throws {
        var aggregator = try Self.machine(Self.policy { $0.privacy = ClientPrivacy(mode: .local, clipNorm: 0, noiseMultiplier: 0.5) })
        var agent = try AgentStateMachine(
            agent: "a1", job: Fixture.job, lastServedRound: 0, errorFeedback: try ErrorFeedback(fraction: 0.34), random: SplitMix64(seed: 3))
        _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
        _ = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1001)
        // Far beyond C: a faulty local computation is clipped before it leaves.
        let actions = agent.trainingFinished(round: 1, trained: try Self.vector([30, 40, 0]), examples: 20, now: 1002)
        guard let payload = actions.compactMap({ if case .publishUpdate(_, let payload, _, _) = $0 { payload } else { nil } }).first else {
            Issue.record("no update in \(actions)")
            return
        }
        let sent = try ModelCodec.delta(of: try SafetensorsDecoder.decode(payload), like: try Self.spec.initialParameters(seed: 0))
        #expect(sent.count == 3, "top-k never thins an analytics vector")
        let noise = 0.5 * Self.analytics.sensitivity
        #expect(abs(sent.l2Norm - Self.analytics.contributionBound) < 10 * noise * 3.0.squareRoot())
        #expect(aggregator.receive(agent: "a1", round: 1, payload: payload, now: 1003).spooled == 1)
        let rogue = ModelCodec.encodeUpdate(
            try Self.vector([5, 0, 0]), encoding: .float32, job: Fixture.job, round: 1, agent: "a2", baseSHA256: aggregator.model.sha256,
            examples: 5)
        #expect(aggregator.receive(agent: "a2", round: 1, payload: rogue, now: 1004).rejections == [.normTooLarge])
    }

    @Test("without privacy, a vector beyond C is refused too, and the round's metrics carry the answers")
    func answersInMetrics() throws {
        var aggregator = try Self.machine()
        func update(_ agent: String, _ values: [Float]) throws -> [UInt8] {
            ModelCodec.encodeUpdate(
                try Self.vector(values), encoding: .float32, job: Fixture.job, round: 1, agent: agent, baseSHA256: aggregator.model.sha256,
                examples: 5)
        }
        #expect(aggregator.receive(agent: "a9", round: 1, payload: try update("a9", [1, 1.5, 1]), now: 1001).rejections == [.normTooLarge])
        // a1: 10 records of mean 7.5 (y = 0.5); a2: 20 records of mean 2.5 (y = -0.5); units of 20 records.
        _ = aggregator.receive(agent: "a1", round: 1, payload: try update("a1", [0.5, 0.5, 0.25]), now: 1002)
        let actions = aggregator.receive(agent: "a2", round: 1, payload: try update("a2", [1, 1, -0.5]), now: 1003)
        let answers = try #require(actions.metrics?.analytics)
        #expect(abs((answers[0].value ?? 0) - 30) < 1e-5)
        #expect(abs((answers[1].value ?? 0) - (10 * 7.5 + 20 * 2.5) / 30) < 1e-5)
        #expect(answers.allSatisfy { abs($0.records - 30) < 1e-5 })
    }
}

/// Analytics announcements with extreme or malformed query settings, as a hostile broker or
/// aggregator could send them: an agent refuses each by name or answers it, and never traps.
@Suite("Hostile analytics announcements")
struct HostileAnalyticsTests {
    @Test("2,000 mutated analytics announcements: refused or answered, no crash")
    func mutatedAnnouncements() throws {
        let aggregator = try AnalyticsRoundTests.machine()
        let template = try #require(
            try JSONSerialization.jsonObject(with: Data(ProtocolJSON.encode(aggregator.announcement))) as? [String: Any])
        let data = try Dataset(
            features: (0..<40).map { Float($0 % 7) - 2 }, targets: [Float](repeating: 1, count: 20), featureCount: 2, featureNames: ["t", "u"])
        let extremes: [Any] = [0, -1, 1, 10_001, 1e18, -1e300, 1e300, 0.5, "x", NSNull(), [1], [Double.greatestFiniteMagnitude, 1], [-1e15, 1e15]]
        var random = SplitMix64(seed: 77)
        var refused = 0
        var answered = 0
        for index in 0..<2000 {
            var announcement = template
            var analytics = template["analytics"] as? [String: Any] ?? [:]
            var queries = analytics["queries"] as? [[String: Any]] ?? []
            let pick = { extremes[Int(random.next() % UInt64(extremes.count))] }
            switch index % 5 {
            case 0: analytics["max_records"] = pick()
            case 1: queries[Int(random.next() % UInt64(queries.count))]["range"] = pick()
            case 2: queries[1]["bins"] = pick()
            case 3:
                queries.append([
                    "statistic": ["quantiles", "histogram", "variance", "median"][Int(random.next() % 4)], "column": "t", "range": pick(),
                    "levels": pick(),
                ])
            default: queries = Array(repeating: queries[1], count: Int(random.next() % 150))
            }
            analytics["queries"] = queries
            announcement["analytics"] = analytics
            guard let payload = try? JSONSerialization.data(withJSONObject: announcement) else { continue }
            var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0, random: SplitMix64(seed: UInt64(index)))
            _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
            let actions = agent.roundReceived(Array(payload), now: 1001)
            guard let work = actions.compactMap({ if case .computeStatistics(_, _, let settings) = $0 { settings } else { nil } }).first else {
                refused += 1
                continue
            }
            // Accepted only when valid: the agent computes its answer, or says why not.
            try work.validate()
            _ = try? LocalStatistics.compute(work, over: data)
            answered += 1
        }
        #expect(refused > 1000 && answered > 0, "refused \(refused), answered \(answered)")
    }
}
