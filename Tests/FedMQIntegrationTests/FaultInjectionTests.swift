import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQTransport
import Foundation
import Testing

/// Faults injected into real processes: a killed aggregator, a restarted broker, vanished
/// agents, a broker that is not there yet.
@Suite("Fault injection with real processes and a real mosquitto", .serialized, .hangGuard)
struct FaultInjectionTests {
    /// Runs a job to the end and returns its closed rounds and final model.
    func finish(_ job: FederatedJob, aggregator: ChildProcess) async throws -> (metrics: [RoundMetrics], model: GlobalModel) {
        let status = try await within(.seconds(180), "the aggregator of \(job.job) to finish") { try await aggregator.wait() }
        #expect(status == 0, "\(job.log("aggregator").suffix(2000))")
        let metrics = try job.metrics()
        let saved = try #require(try job.savedCheckpoint())
        #expect(saved.checkpoint.modelSHA256 == metrics.last?.modelSHA256)
        return (metrics, try ModelCodec.decodeModel(saved.model))
    }

    @Test(
        "the aggregator SIGKILLed at ten seeded points of the job: every update counts exactly once, all rounds complete, the model equals the undisturbed run's"
    )
    func tenKills() async throws {
        try await withLocalBroker { broker in
            let rounds = 60
            let calm = try FederatedJob(broker: broker, job: "calm", agents: 4, rounds: rounds, target: 4, minimum: 4, epochs: 3)
            let calmAggregator = try calm.startAggregator()
            var agents = try (0..<4).map { try calm.startAgent($0) }
            let reference = try await finish(calm, aggregator: calmAggregator)
            for agent in agents { await agent.stop() }

            let faulty = try FederatedJob(broker: broker, job: "faulty", agents: 4, rounds: rounds, target: 4, minimum: 4, epochs: 3)
            var aggregator = try faulty.startAggregator()
            agents = try (0..<4).map { try faulty.startAgent($0) }
            // Ten kills at seeded points of the job, each a round 1 to 3 ahead of the last one and
            // how many of its 4 updates are spooled (0 to 3), read from the aggregator's own files.
            // A thread of its own watches for each point and freezes the agents (SIGSTOP) the
            // moment it is reached; they run again once the killed aggregator does. So the job
            // cannot run out before the ten kills, however this test process is scheduled.
            var random = SplitMix64(seed: 42)
            var kills = 0
            var point = (round: 2, spooled: Int(random.next() % 4))
            let running = agents
            while kills < 10 {
                let target = point
                try await pollOnOwnThread("round \(target.round) with \(target.spooled) updates spooled") {
                    // A line being appended may be cut short when read: then the next poll decides.
                    let closed = (try? faulty.metrics().count) ?? 0
                    return closed >= target.round || (closed == target.round - 1 && faulty.spooled(round: target.round) >= target.spooled)
                } then: {
                    for agent in running { agent.send(SIGSTOP) }
                }
                defer { for agent in running { agent.send(SIGCONT) } }
                if aggregator.poll() != nil { break }  // finished before all ten kills
                aggregator.send(SIGKILL)
                _ = try await aggregator.wait()
                kills += 1
                aggregator = try faulty.startAggregator()
                let closed = (try? faulty.metrics().count) ?? 0
                point = (round: closed + 1 + Int(random.next() % 3), spooled: Int(random.next() % 4))
            }
            let disturbed = try await finish(faulty, aggregator: aggregator)
            for agent in agents { await agent.stop() }

            #expect(kills == 10, "the job ended after \(kills) kills; make it longer")
            #expect(disturbed.metrics.map(\.round) == Array(1...rounds))
            #expect(disturbed.metrics.allSatisfy { $0.updates == 4 && $0.participants == ["a0", "a1", "a2", "a3"] })
            // Redeliveries after a kill (the broker resends what the dead process had not acknowledged,
            // agents resend what the restarted aggregator does not list) are refused as such; nothing else is.
            #expect(
                disturbed.metrics.allSatisfy { Set($0.rejected.keys).isSubset(of: ["duplicate", "closed_round"]) },
                "\(disturbed.metrics.map(\.rejected))")
            // Same seeds, same updates: the models differ at most by the order in which floats were summed.
            let difference =
                zip(disturbed.model.parameters.tensors, reference.model.parameters.tensors)
                .flatMap { zip($0.values, $1.values).map { abs($0 - $1) } }.max() ?? .infinity
            #expect(difference <= 1e-4, "largest difference from the undisturbed run: \(difference)")
            #expect(disturbed.metrics.last?.accuracy == reference.metrics.last?.accuracy)
        }
    }

    @Test("the broker stopped and restarted (with persistence) mid-job: every round completes")
    func brokerRestart() async throws {
        try await withLocalBroker(LocalBrokerConfiguration(persistence: true)) { broker in
            let job = try FederatedJob(broker: broker, job: "brokerfault", agents: 3, rounds: 12, target: 3, minimum: 3, epochs: 3)
            let aggregator = try job.startAggregator()
            let agents = try (0..<3).map { try job.startAgent($0) }
            try await eventually("round 3 to close") { try job.metrics().count >= 3 }
            await broker.stop()
            try await Task.sleep(for: .milliseconds(500))
            try await broker.start()
            let (metrics, _) = try await finish(job, aggregator: aggregator)
            for agent in agents { await agent.stop() }
            #expect(metrics.map(\.round) == Array(1...12))
            #expect(metrics.allSatisfy { $0.updates == 3 })
        }
    }

    @Test("an agent that vanishes while training: every round opened after it vanished closes at its deadline with the quorum")
    func vanishedAgent() async throws {
        try await withLocalBroker { broker in
            // The job runs until the test has seen enough; rounds = 1000 is only an upper bound.
            let job = try FederatedJob(broker: broker, job: "vanish", agents: 3, rounds: 1000, target: 3, minimum: 2, epochs: 20, roundSeconds: 5)
            let watcher = try await connectedClient(clientOptions(broker))
            let statuses = try await watcher.subscribe(to: [try Topics(job: "vanish").status(agent: "a2")], qos: .atLeastOnce)
            let aggregator = try job.startAggregator()
            // a2's training status as training starts: the kill below waits for it.
            let agents = try (0..<3).map { try job.startAgent($0, extra: $0 == 2 ? ["--training-status-after", "0"] : []) }
            try await within(.seconds(150), "a2 to start training") {
                for await message in statuses {
                    if let status = try? ProtocolJSON.decode(AgentStatus.self, from: message.payload), status.state == .training { return }
                }
            }
            agents[2].send(SIGKILL)
            let killedAt = Date().timeIntervalSince1970
            await watcher.disconnect()
            // However late the kill landed on this machine, the rounds that opened after it cannot
            // have a2: wait for two of them, then end the job.
            @Sendable func afterKill() -> [RoundMetrics] { ((try? job.metrics()) ?? []).filter { $0.closedAt - $0.durationSeconds > killedAt } }
            try await eventually("two rounds opened after the kill to close", within: .seconds(120)) { afterKill().count >= 2 }
            await aggregator.stop()
            for agent in agents.prefix(2) { await agent.stop() }
            let after = afterKill()
            // Each waited for its deadline (a2 was expected), then closed with the quorum.
            #expect(after.allSatisfy { $0.updates == 2 && $0.participants == ["a0", "a1"] }, "\(after.map(\.participants))")
            #expect(after.allSatisfy { $0.durationSeconds >= 4.5 }, "\(after.map(\.durationSeconds))")
        }
    }

    @Test("a broker that is not there at start: agent and aggregator wait without spinning, then run the job when it appears")
    func brokerLate() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-late-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try LoopbackPort.free()
        let config = directory.appendingPathComponent("mosquitto.conf").path
        try "listener \(port) 127.0.0.1\nallow_anonymous true\n".write(toFile: config, atomically: true, encoding: .utf8)
        // A broker object that is not started yet: the job's files live in its directory.
        let placeholder = try await LocalBroker()
        let job = try FederatedJob(broker: placeholder, job: "late", agents: 1, rounds: 2, target: 1, minimum: 1, epochs: 1, port: port)
        await placeholder.stop()
        let aggregator = try job.startAggregator()
        let agent = try job.startAgent(0)
        // Three retries with backoff take about 1.75 s of waiting; a busy loop would have burnt
        // that much CPU and more by then.
        try await eventually("both to retry three times", within: .seconds(60)) {
            ["agent-0", "aggregator"].allSatisfy { job.log($0).contains("reconnecting(attempt: 3,") }
        }
        let busy = [aggregator.pid, agent.pid].map(cpuSeconds)
        #expect(busy.allSatisfy { $0 < 1.0 }, "CPU seconds after three retries for the missing broker: \(busy)")
        #expect(aggregator.isRunning && agent.isRunning)
        let broker = try await LocalBroker(existingConfig: config, port: port, directory: directory.appendingPathComponent("run"))
        let (metrics, _) = try await finish(job, aggregator: aggregator)
        await agent.stop()
        #expect(metrics.map(\.round) == [1, 2])
        // Both logged their retries and why (the delays grow: backoff, not a busy loop; the CPU check above).
        for name in ["agent-0", "aggregator"] {
            let log = job.log(name)
            #expect(
                log.contains("reconnecting(attempt: 1,") && log.contains("reconnecting(attempt: 3,") && log.contains("Connection refused"),
                "\(name): \(log.prefix(1500))")
        }
        await broker.remove()
        await placeholder.remove()
        try? FileManager.default.removeItem(at: directory)
    }
}

extension FaultInjectionTests {
    @Test("SIGTERM while waiting for a broker that is not there: agent and aggregator stop at once with status 0, saying why")
    func shutdownBeforeBroker() async throws {
        let port = try LoopbackPort.free()
        let placeholder = try await LocalBroker()
        let job = try FederatedJob(broker: placeholder, job: "never", agents: 1, rounds: 1, target: 1, minimum: 1, epochs: 1, port: port)
        await placeholder.stop()
        let processes = ["aggregator": try job.startAggregator(), "agent-0": try job.startAgent(0)]
        try await eventually("both to retry the missing broker") {
            processes.keys.allSatisfy { job.log($0).contains("reconnecting(attempt: 1,") }
        }
        for (name, process) in processes {
            process.send(SIGTERM)
            // Without the shutdown reaching the start, the process would retry until a broker came.
            let status = try await within(.seconds(60), "\(name) to exit on SIGTERM") { try await process.wait() }
            #expect(status == 0, "\(name): \(job.log(name).suffix(1500))")
            #expect(job.log(name).contains("shutting down before the broker answered"), "\(name)")
        }
        await placeholder.remove()
    }

    @Test("SIGTERM while a publish waits for a broker that is gone: the aggregator stops at once with status 0, and a restart republishes")
    func shutdownDuringPublish() async throws {
        let broker = try await LocalBroker()
        let job = try FederatedJob(broker: broker, job: "stranded", agents: 1, rounds: 3, target: 1, minimum: 1, epochs: 1, roundSeconds: 1)
        let aggregator = try job.startAggregator()
        try await eventually("round 1 to be open") { job.log("aggregator").contains("round open") }
        await broker.stop()
        // With no update, the deadline passes: the aggregator writes the extended round's checkpoint,
        // then publishes the model again, which nobody acknowledges. An extension written before the
        // broker stopped may have been published; the next one cannot be.
        @Sendable func extensions() -> Int {
            ((try? job.savedCheckpoint()) ?? nil)?.checkpoint.announcement.extensions ?? 0
        }
        let before = extensions()
        try await eventually("an extension's checkpoint after the broker stopped") { extensions() > before }
        aggregator.send(SIGTERM)
        // Without the shutdown reaching the publish, the service group would cancel it after 10 s and exit 1.
        let status = try await within(.seconds(60), "the aggregator to exit on SIGTERM") { try await aggregator.wait() }
        #expect(status == 0, "\(job.log("aggregator").suffix(1500))")
        #expect(job.log("aggregator").contains("while the broker had not acknowledged a publish"), "\(job.log("aggregator").suffix(1500))")

        // Back with a broker: the restart resumes the extended round and publishes it, retained.
        try await broker.start()
        let restarted = try job.startAggregator()
        let client = try await connectedClient(clientOptions(broker))
        let rounds = try await client.subscribe(to: ["fedmq/v1/stranded/global/round"], qos: .atLeastOnce)
        let republished = try await within(.seconds(60), "the resumed round") {
            for await message in rounds {
                if let announcement = try? ProtocolJSON.decode(RoundAnnouncement.self, from: message.payload), announcement.extensions >= 1 {
                    return announcement
                }
            }
            throw CancellationError()
        }
        await client.disconnect()
        #expect(republished.round == 1 && republished.received == [])
        await restarted.stop()
        await broker.remove()
    }

    @Test(
        "a write that fails (a file size limit standing in for a full disk) stops the aggregator with the path; its last checkpoint is intact and a restart finishes the job"
    )
    func failedWrite() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(broker: broker, job: "diskfull", agents: 2, rounds: 120, target: 2, minimum: 2, epochs: 1)
            // The checkpoint file (32,800 bytes: two slots of 16 KiB for the 11 KB model with its feature
            // scaling and the checkpoint's JSON) and a round's spool log (two updates of 10 KB) fit;
            // metrics.jsonl grows by about 0.42 KB a round and reaches the limit after some 80 of the 120.
            let limited = try job.startAggregator(fileSizeLimit: 34_000, logLevel: "error")
            let agents = try (0..<2).map { try job.startAgent($0) }
            let status = try await within(.seconds(120), "the aggregator to stop") { try await limited.wait() }
            let log = job.log("aggregator")
            #expect(status != 0)
            #expect(log.contains("metrics.jsonl") && log.contains("File too large"), "\(log.suffix(1500))")
            let checkpoint = try #require(try job.savedCheckpoint()).checkpoint
            let closed = try job.metrics().count
            #expect(closed >= 10 && closed < 120)
            #expect(checkpoint.announcement.round == (checkpoint.lastMetrics?.round ?? 0) + 1)

            // Room again: the restart logs the round that closed but was not logged, and finishes.
            let restarted = try job.startAggregator()
            let (metrics, _) = try await finish(job, aggregator: restarted)
            for agent in agents { await agent.stop() }
            #expect(metrics.map(\.round) == Array(1...120))
            #expect(metrics.allSatisfy { $0.updates == 2 })
        }
    }
}

extension FaultInjectionTests {
    @Test("a checkpoint write that fails stops the aggregator with the path; the previous checkpoint is intact and a restart finishes the round")
    func failedCheckpoint() async throws {
        try await withLocalBroker { broker in
            // FedAdam's moments make the round-1 checkpoint about 70 KB, which needs a larger checkpoint
            // file; the first one (no moments yet) fits in 32,800 bytes.
            let job = try FederatedJob(
                broker: broker, job: "ckptfull", agents: 2, rounds: 2, target: 2, minimum: 2, epochs: 1,
                strategy: StrategyConfig(name: "fedadam"))
            let limited = try job.startAggregator(fileSizeLimit: 40_000, logLevel: "error")
            let agents = try (0..<2).map { try job.startAgent($0) }
            let status = try await within(.seconds(60), "the aggregator to stop") { try await limited.wait() }
            #expect(status != 0)
            #expect(
                job.log("aggregator").contains("checkpoint.state") && job.log("aggregator").contains("File too large"),
                "\(job.log("aggregator").suffix(1500))")
            let kept = try #require(try job.savedCheckpoint()).checkpoint
            #expect(kept.announcement.round == 1)
            #expect(job.spooled(round: 1) == 2)
            let (metrics, _) = try await finish(job, aggregator: try job.startAggregator())
            for agent in agents { await agent.stop() }
            #expect(metrics.map(\.round) == [1, 2])
            #expect(metrics.allSatisfy { $0.updates == 2 })
        }
    }

    @Test("a spool write that fails stops the aggregator with the path; after a restart the agents send their updates again")
    func failedSpool() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(broker: broker, job: "spoolfail", agents: 2, rounds: 1, target: 2, minimum: 2, epochs: 1)
            let first = try job.startAggregator(logLevel: "error")
            try await eventually("the first checkpoint", within: .seconds(20)) {
                FileManager.default.fileExists(atPath: job.checkpointPath) || !first.isRunning
            }
            #expect(first.isRunning, "\(job.log("aggregator").prefix(3000))")
            // A folder where the round's spool log must go: the first accepted update cannot be written.
            let blocker = job.stateDirectory + "/spool/round-1.log"
            try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: true)
            let agents = try (0..<2).map { try job.startAgent($0) }
            let status = try await within(.seconds(60), "the aggregator to stop") { try await first.wait() }
            #expect(status != 0)
            #expect(job.log("aggregator").contains("spool/round-1.log"), "\(job.log("aggregator").suffix(1500))")
            try FileManager.default.removeItem(atPath: blocker)
            let (metrics, _) = try await finish(job, aggregator: try job.startAggregator())
            for agent in agents { await agent.stop() }
            #expect(metrics.map(\.round) == [1])
            #expect(metrics[0].participants == ["a0", "a1"])
        }
    }
}

/// User plus system CPU seconds a process has used so far (from /proc).
func cpuSeconds(_ pid: pid_t) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let end = stat.lastIndex(of: ")")
    else { return .infinity }
    let fields = stat[stat.index(after: end)...].split(separator: " ")
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return .infinity }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}
