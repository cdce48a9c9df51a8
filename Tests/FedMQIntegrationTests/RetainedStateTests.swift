import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQTransport
import Foundation
import Testing

/// The retained model is what a starting agent trains from. When it is forged or lost, the job
/// must not stall: real processes, a real mosquitto, faults placed on observed events. Rounds
/// are 10 minutes long, so a round that had to wait for its deadline would exceed the time limit.
@Suite("A forged or lost retained model with real processes", .serialized, .hangGuard)
struct RetainedStateTests {
    /// A three-agent job whose first round needs every agent; a1 and a2 start at once and send
    /// their round-1 updates; then `fault` runs and a0 starts.
    func run(_ name: String, broker: LocalBroker, fault: (FederatedJob) async throws -> Void) async throws -> [RoundMetrics] {
        let job = try FederatedJob(broker: broker, job: name, agents: 3, rounds: 2, target: 3, minimum: 3, epochs: 1, roundSeconds: 600)
        let aggregator = try job.startAggregator()
        let agents = try [1, 2].map { try job.startAgent($0) }
        try await eventually("a1 and a2 to send their round-1 updates") { job.spooled(round: 1) == 2 }
        try await fault(job)
        let late = try job.startAgent(0)
        let status = try await within(.seconds(150), "the job to finish") { try await aggregator.wait() }
        for agent in agents + [late] { await agent.stop() }
        #expect(status == 0, "\(job.log("aggregator").suffix(2000))")
        return try job.metrics()
    }

    @Test("a forged retained model (no ACLs, unsigned fleet) when an agent starts: it says it waits, the aggregator publishes the model again")
    func forgedModel() async throws {
        try await withLocalBroker { broker in
            let metrics = try await run("forged", broker: broker) { job in
                let forger = try await connectedClient(clientOptions(broker, id: "forger"))
                try await forger.publish(try Topics(job: job.job).globalModel, payload: Array("not a model".utf8), qos: .atLeastOnce, retain: true)
                await forger.disconnect()
            }
            #expect(metrics.map(\.round) == [1, 2])
            #expect(metrics.allSatisfy { $0.updates == 3 && $0.deadlineExtensions == 0 }, "\(metrics)")
        }
    }

    @Test("a broker restarted without persistence loses the retained model: the aggregator publishes it again when it reconnects without a session")
    func lostRetainedState() async throws {
        try await withLocalBroker { broker in
            let metrics = try await run("lost", broker: broker) { _ in
                await broker.stop()
                try await broker.start()
            }
            #expect(metrics.map(\.round) == [1, 2])
            #expect(metrics.allSatisfy { $0.updates == 3 && $0.deadlineExtensions == 0 }, "\(metrics)")
        }
    }
}

@Suite("Two clients with one identity", .hangGuard)
struct DuplicateClientTests {
    @Test("a second client with the aggregator's client id: the aggregator's log names the takeover instead of a lost connection")
    func sessionTakeover() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(broker: broker, job: "twins", agents: 1, rounds: 1, target: 1, minimum: 1)
            let aggregator = try job.startAggregator()
            try await eventually("the aggregator to start") { FileManager.default.fileExists(atPath: job.checkpointPath) }
            try await eventually("the aggregator to be connected") { job.log("aggregator").contains("broker: connected") }
            let twin = try await connectedClient(clientOptions(broker, id: "fedmq-aggregator-twins"))
            try? await eventually("the takeover to be named", within: .seconds(20)) { job.log("aggregator").contains("share one identity") }
            await twin.disconnect()
            await aggregator.stop()
            #expect(job.log("aggregator").contains("two processes or devices share one identity"), "\(job.log("aggregator").suffix(3000))")
        }
    }
}
