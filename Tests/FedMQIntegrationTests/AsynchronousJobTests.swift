import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQTransport
import Foundation
import Testing

@Suite("Asynchronous jobs: real broker, real processes", .serialized)
struct AsynchronousJobTests {
    @Test(
        "digits MLP, buffers of 3 from 5 agents, aggregator SIGKILLed with a part-filled buffer: 12 versions, each update counted once, accuracy >= 0.85"
    )
    func crashAndFinish() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(
                broker: broker, job: "async", agents: 5, rounds: 12, target: 3, minimum: 3, epochs: 1,
                asynchronous: AsynchronousSettings(maxStaleness: 4))
            let aggregator = try job.startAggregator()
            // Two agents cannot fill a buffer of three: each waits for round 2 after its update.
            let early = try (0..<2).map { try job.startAgent($0) }
            try await eventually("2 spooled updates") { job.spooled(round: 1) == 2 }
            aggregator.send(SIGKILL)
            #expect(try await aggregator.wait() == 128 + SIGKILL)
            // The others publish while it is down (the broker queues their updates in its session).
            // a4's owner allows two updates an hour: it serves two versions at most.
            let late = try (2..<4).map { try job.startAgent($0) } + [try job.startAgent(4, extra: ["--max-updates-per-hour", "2"])]
            try await eventually("the late agents to publish") { (2..<5).allSatisfy { job.log("agent-\($0)").contains("published update") } }
            let restarted = try job.startAggregator()
            let agents = early + late
            let status = try await within(.seconds(180), "the restarted aggregator to finish") { try await restarted.wait() }
            for agent in agents { await agent.stop() }
            #expect(status == 0, "\(job.log("aggregator").suffix(2000))")

            #expect(job.log("aggregator").contains("resumed round 1 from \(job.stateDirectory) with 2 spooled update(s)"))
            let metrics = try job.metrics()
            #expect(metrics.map(\.round) == Array(1...12))
            #expect(metrics.allSatisfy { $0.updates == 3 && $0.failure == nil })
            // Exactly once: an agent's update for a round counts in one version only, and its rounds only grow.
            var counted: [String: [Int]] = [:]
            for version in metrics {
                let staleness = try #require(version.staleness)
                #expect(staleness.max <= 4 && Set(staleness.agents.keys) == Set(version.participants))
                for (agent, age) in staleness.agents { counted[agent, default: []].append(version.round - age) }
            }
            for (agent, rounds) in counted { #expect(rounds == rounds.sorted() && Set(rounds).count == rounds.count, "\(agent): \(rounds)") }
            // (The pacing's timing is tested with a clock in AsynchronousAgentTests; here only its bound.)
            #expect((counted["a4"]?.count ?? 0) <= 2, "pacing: \(counted["a4"] ?? [])")
            // Refusals are the protocol's own: a resent copy, or an update past max_staleness.
            let reasons = Set(metrics.flatMap(\.rejected.keys))
            #expect(reasons.isSubset(of: ["duplicate", "stale", "closed_round"]), "\(reasons)")
            #expect(try #require(metrics.last?.accuracy) >= 0.85)
            // What an operator's mosquitto_sub shows: the retained announcement of an asynchronous job.
            let client = try await connectedClient(clientOptions(broker))
            let retained = try await messages(try await client.subscribe(to: ["fedmq/v1/async/global/round"], qos: .atLeastOnce), count: 1)
            await client.disconnect()
            let announcement = try ProtocolJSON.decode(RoundAnnouncement.self, from: try #require(retained.first).payload)
            #expect(announcement.asynchronous?.maxStaleness == 4 && announcement.round == 12)

            // fedmq status names the mode and the last version's staleness.
            let statusTool = try ChildProcess(
                try fedmqExecutable().path, ["status", "--port", "\(broker.port)", "--job", "async"],
                logFile: job.directory.appendingPathComponent("status.log").path)
            #expect(try await within(.seconds(30), "fedmq status") { try await statusTool.wait() } == 0)
            let screen = job.log("status")
            #expect(
                screen.contains("round 12/12 (the last; the job is finished): asynchronous, buffer of 3 updates on versions up to 4 old"), "\(screen)"
            )
            #expect(screen.contains("last closed: round 12, 3 updates") && screen.contains("staleness mean "), "\(screen)")
        }
    }
}
