import FedMQCore
import FedMQProtocol
import Testing

@Suite("Which jobs count on their agents to send a lost update again")
struct RoundPolicyResendTests {
    static func policy(_ change: (inout RoundPolicy) -> Void = { _ in }) -> RoundPolicy {
        var policy = RoundPolicy(rounds: 3, targetUpdates: 4, minUpdates: 3)
        change(&policy)
        return policy
    }

    /// The aggregator fsyncs its spool's batches exactly where this is false.
    @Test("plain rounds do; secure, homomorphic, asynchronous, analytics, site and sharded jobs fsync their spool instead")
    func resendingJobs() {
        #expect(Self.policy().agentsResendLostUpdates)
        #expect(Self.policy { $0.privacy = ClientPrivacy(mode: .local, clipNorm: 1, noiseMultiplier: 1) }.agentsResendLostUpdates)
        let others: [(String, (inout RoundPolicy) -> Void)] = [
            ("secure", { $0.secureAggregation = SecureAggregationSettings(quantization: SecAggQuantization(clip: 1, scale: 1024)) }),
            ("homomorphic", { $0.homomorphic = HomomorphicSettings(clip: 0.5, scale: 1_048_576) }),
            ("asynchronous", { $0.mode = .asynchronous }),
            ("analytics", { $0.analytics = AnalyticsRoundTests.analytics }),
            ("sites", { $0.sites = ["north", "south"] }),
            (
                "ingest shards",
                { policy in
                    policy.sites = ["shard0", "shard1"]
                    policy.ingestShards = true
                }
            ),
        ]
        for (name, change) in others { #expect(!Self.policy(change).agentsResendLostUpdates, "\(name)") }
    }
}
