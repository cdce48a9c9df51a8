import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import Foundation
import Testing

/// A secure-aggregation job with real processes: `fedmq-aggregator` and `fedmq-agent`s on a real
/// mosquitto, an enrolled fleet, against the same job with plain updates.
@Suite("Secure aggregation jobs with real processes", .hangGuard)
struct SecureJobTests {
    /// Runs a 4-agent, 5-round job, with or without secure aggregation, and returns its metrics.
    func run(secure: Bool, broker: LocalBroker) async throws -> (FederatedJob, [RoundMetrics]) {
        let name = secure ? "secure" : "plain"
        let fleet = try TestFleet(directory: broker.directory.appendingPathComponent("\(name)-keys"), agents: 4)
        let settings = SecureAggregationSettings(quantization: SecAggQuantization(clip: 1, scale: 1_048_576), stageSeconds: 20)
        let job = try FederatedJob(
            broker: broker, job: name, agents: 4, rounds: 5, target: 4, minimum: 4, epochs: 1,
            extraConfig: ["identity_key": fleet.aggregatorKey, "enrolment": fleet.enrolment], secure: secure ? settings : nil,
            weighting: .uniform)
        let aggregator = try job.startAggregator()
        let agents = try (0..<4).map { try job.startAgent($0, extra: fleet.agentArguments($0)) }
        let status = try await within(.seconds(150), "the \(name) job to finish") { try await aggregator.wait() }
        for agent in agents { await agent.stop() }
        #expect(status == 0, "\(job.log("aggregator").suffix(2000))")
        return (job, try job.metrics())
    }

    @Test("a secure job completes every round with every agent, and its accuracy matches plain FedAvg within 1 point")
    func matchesPlain() async throws {
        try await withLocalBroker { broker in
            let (job, secure) = try await run(secure: true, broker: broker)
            let (_, plain) = try await run(secure: false, broker: broker)
            #expect(secure.map(\.round) == [1, 2, 3, 4, 5])
            #expect(secure.allSatisfy { $0.participants == ["a0", "a1", "a2", "a3"] && $0.secureAggregation?.failure == nil }, "\(secure)")
            #expect(secure.allSatisfy { $0.secureAggregation == SecAggRoundReport(degree: 3, threshold: 3, dropped: []) })
            let secureAccuracy = try #require(secure.last?.accuracy)
            let plainAccuracy = try #require(plain.last?.accuracy)
            #expect(abs(secureAccuracy - plainAccuracy) <= 0.01, "secure \(secureAccuracy), plain \(plainAccuracy)")
            #expect(secureAccuracy > 0.8)
            // The aggregator never received an update it could read: no update topic was used.
            #expect(!job.log("aggregator").contains("accepted update"))
            #expect(job.log("agent-0").contains("secure aggregation: published"))
        }
    }
}
