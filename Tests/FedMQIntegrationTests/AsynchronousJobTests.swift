import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQTransport
import Foundation
import FoundationNetworking
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

            // fedmq dashboard's state: the mode, and each version's mean staleness for its chart.
            let port = try LoopbackPort.free()
            let dashboard = try ChildProcess(
                try fedmqExecutable().path, ["dashboard", "--port", "\(broker.port)", "--job", "async", "--listen", "127.0.0.1:\(port)"],
                logFile: job.directory.appendingPathComponent("dashboard.log").path)
            try await eventually("the dashboard to listen") { job.log("dashboard").contains("dashboard on http://127.0.0.1:\(port)/") }
            let stateURL = try #require(URL(string: "http://127.0.0.1:\(port)/state"))
            let staleness = try await within(.seconds(30), "the dashboard to see the retained state") {
                while true {
                    let (body, _) = try await URLSession.shared.data(from: stateURL)
                    if let state = try JSONSerialization.jsonObject(with: body) as? [String: Any], state["mode"] as? String == "asynchronous",
                        let history = state["history"] as? [[String: Any]], !history.isEmpty
                    {
                        return history.map { $0["staleness"] as? Double }
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            #expect(staleness.allSatisfy { $0.map { $0 >= 0 && $0 <= 4 } == true }, "\(staleness)")
            await dashboard.stop()
        }
    }
}
