import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation
import Testing

@Suite("Federated rounds with real processes and a real mosquitto", .hangGuard)
struct FederatedRoundTests {
    @Test("5 agents, MLP, 10 rounds on digits: accuracy >= 0.90, and the retained model loads in Python")
    func endToEnd() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(broker: broker, job: "e2e", agents: 5, rounds: 10, target: 5, minimum: 3)
            let aggregator = try job.startAggregator()
            let agents = try (0..<5).map { try job.startAgent($0) }
            let status = try await within(.seconds(180), "the aggregator to finish") { try await aggregator.wait() }
            for agent in agents { await agent.stop() }
            #expect(status == 0, "aggregator log:\n\(job.log("aggregator").suffix(2000))")
            let metrics = try job.metrics()
            #expect(metrics.map(\.round) == Array(1...10))
            let final = try #require(metrics.last)
            #expect(try #require(final.accuracy) >= 0.90)
            #expect(metrics.allSatisfy { $0.updates >= 3 && $0.rejected.isEmpty })

            // What an operator does: fetch the retained model with mosquitto_sub and load it in Python.
            let modelFile = job.directory.appendingPathComponent("global.safetensors").path
            let subscriber = try ChildProcess(
                "/bin/sh", ["-c", "exec mosquitto_sub -p \(broker.port) -t fedmq/v1/e2e/global/model -C 1 -N > '\(modelFile)'"])
            #expect(try await within(.seconds(20), "mosquitto_sub") { try await subscriber.wait() } == 0)
            let model = try ModelCodec.decodeModel(Array(try Data(contentsOf: URL(fileURLWithPath: modelFile))))
            #expect(model.round == 10)
            #expect(model.sha256 == final.modelSHA256)
            let python = try ChildProcess(
                repositoryFile(".venv/bin/python"),
                [
                    "-c",
                    "import sys; from safetensors.numpy import load_file; m = load_file(sys.argv[1]); "
                        + "assert {k: v.shape for k, v in m.items()} == {'W1': (64, 32), 'b1': (32,), 'W2': (32, 10), 'b2': (10,)}, m.keys()",
                    modelFile,
                ], logFile: job.directory.appendingPathComponent("python.log").path)
            #expect(try await within(.seconds(30), "python") { try await python.wait() } == 0, "\(job.log("python"))")

            // fedmq inspect decodes it; fedmq watch shows the job's retained state.
            let fedmq = try fedmqExecutable().path
            let inspect = try ChildProcess(fedmq, ["inspect", modelFile], logFile: job.directory.appendingPathComponent("inspect.log").path)
            #expect(try await inspect.wait() == 0)
            let described = job.log("inspect")
            #expect(described.contains("fedmq.kind = model"))
            #expect(described.contains("fedmq.round = 10"))
            #expect(described.contains("W1 float32 [64, 32]"))
            #expect(described.contains("4 tensors, 2410 values"))
            // The aggregator's checkpoint file holds the same model.
            let checkpoint = try ChildProcess(
                fedmq, ["inspect", job.checkpointPath], logFile: job.directory.appendingPathComponent("checkpoint.log").path)
            #expect(try await checkpoint.wait() == 0)
            let saved = job.log("checkpoint")
            #expect(saved.contains("aggregator checkpoint of job e2e: finished after round 10"), "\(saved)")
            #expect(saved.contains("model: safetensors") && saved.contains("sha256 \(final.modelSHA256)"), "\(saved)")
            let watch = try ChildProcess(
                fedmq, ["watch", "--port", "\(broker.port)", "--job", "e2e", "--limit", "9"],
                logFile: job.directory.appendingPathComponent("watch.log").path)
            #expect(try await within(.seconds(20), "fedmq watch") { try await watch.wait() } == 0)
            let watched = job.log("watch")
            #expect(watched.split(separator: "\n").count == 9)
            #expect(watched.contains("metrics of round 10: "))
            #expect(watched.contains("rejected none,") && !watched.contains("[:]"))
            #expect(watched.contains("(retained)"))
            // Into a file, a watcher that does not stop writes each line as it comes, not at exit.
            let following = try ChildProcess(
                fedmq, ["watch", "--port", "\(broker.port)", "--job", "e2e"], logFile: job.directory.appendingPathComponent("follow.log").path)
            try await eventually("the watcher's first lines in its file") { job.log("follow").contains("metrics of round 10: ") }
            await following.stop()
            // A job name that is not there (a wrong case) gets the names of those that are.
            let mistaken = try ChildProcess(
                fedmq, ["watch", "--port", "\(broker.port)", "--job", "E2E"], logFile: job.directory.appendingPathComponent("mistaken.log").path)
            try await eventually("the watcher to name the jobs there") { job.log("mistaken").contains("jobs there: e2e") }
            #expect(job.log("mistaken").contains("job 'E2E' has no aggregator status"))
            await mistaken.stop()

            // fedmq status: one screen from the retained state, and the same as JSON.
            func tool(_ name: String, _ arguments: [String]) async throws -> (status: Int32, log: String) {
                let child = try ChildProcess(fedmq, arguments, logFile: job.directory.appendingPathComponent("\(name).log").path)
                let status = try await within(.seconds(30), name) { try await child.wait() }
                return (status, job.log(name))
            }
            let screen = try await tool("status", ["status", "--port", "\(broker.port)", "--job", "e2e"])
            #expect(screen.status == 0, "\(screen.log)")
            #expect(screen.log.contains("round 10/10 (the last; the job is finished)"), "\(screen.log)")
            #expect(screen.log.contains("last closed: round 10, \(final.updates) updates, rejected none"), "\(screen.log)")
            #expect(screen.log.contains("agents: 5 (offline 5)"), "\(screen.log)")
            let document = try await tool("status-json", ["status", "--port", "\(broker.port)", "--job", "e2e", "--json"])
            let parsed = try #require(try JSONSerialization.jsonObject(with: Data(document.log.utf8)) as? [String: Any])
            #expect((parsed["last_round"] as? [String: Any])?["round"] as? Int == 10)
            #expect((parsed["agents"] as? [Any])?.count == 5)
            let missing = try await tool("status-missing", ["status", "--port", "\(broker.port)", "--job", "nope"])
            #expect(missing.status == 1 && missing.log.contains("job 'nope' has nothing retained"), "\(missing.log)")

            // fedmq predict with the retained model on the aggregator's own evaluation data: the
            // same accuracy the last round reported; without the label column, the same predictions.
            let test = job.directory.appendingPathComponent("test.csv").path
            let labelled = job.directory.appendingPathComponent("predicted.txt").path
            let predicted = try await tool("predict", ["predict", "--port", "\(broker.port)", "--job", "e2e", "--data", test, "--out", labelled])
            #expect(predicted.status == 0, "\(predicted.log)")
            #expect(predicted.log.contains(String(format: "accuracy %.4f", try #require(final.accuracy))), "\(predicted.log)")
            let rows = try String(contentsOfFile: test, encoding: .utf8).split(separator: "\n")
            let unlabelledFile = job.directory.appendingPathComponent("unlabelled.csv").path
            try (rows.map { $0.split(separator: ",").dropLast().joined(separator: ",") }.joined(separator: "\n") + "\n")
                .write(toFile: unlabelledFile, atomically: true, encoding: .utf8)
            let plain = job.directory.appendingPathComponent("predicted-plain.txt").path
            let fromFile = try await tool("predict-file", ["predict", "--model", modelFile, "--data", unlabelledFile, "--out", plain])
            #expect(fromFile.status == 0, "\(fromFile.log)")
            let first = try String(contentsOfFile: labelled, encoding: .utf8)
            #expect(first.split(separator: "\n").count == rows.count)
            #expect(try String(contentsOfFile: plain, encoding: .utf8) == first)
        }
    }

    @Test("aggregator SIGKILLed mid-round, updates published while it is down: after restart the round completes, each update counted once")
    func aggregatorCrash() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(broker: broker, job: "crash", agents: 5, rounds: 2, target: 5, minimum: 5)
            let aggregator = try job.startAggregator()
            let early = try (0..<3).map { try job.startAgent($0) }
            try await eventually("3 spooled updates") { job.spooled(round: 1) == 3 }
            aggregator.send(SIGKILL)
            #expect(try await aggregator.wait() == 128 + SIGKILL)
            #expect(try job.metrics().isEmpty)

            // The late agents publish while the aggregator is down: the broker queues their
            // updates in the aggregator's persistent session.
            let late = try (3..<5).map { try job.startAgent($0) }
            try await eventually("the late agents to publish") {
                (3..<5).allSatisfy { job.log("agent-\($0)").contains("published update") }
            }
            let restarted = try job.startAggregator()
            let status = try await within(.seconds(120), "the restarted aggregator to finish") { try await restarted.wait() }
            for agent in early + late { await agent.stop() }
            #expect(status == 0, "\(job.log("aggregator").suffix(2000))")
            let metrics = try job.metrics()
            #expect(metrics.map(\.round) == [1, 2])
            #expect(metrics[0].participants == ["a0", "a1", "a2", "a3", "a4"])
            #expect(metrics[0].updates == 5)
            // The restarted aggregator lists the 3 spooled updates in its round; the late agents, not
            // listed, send theirs again; whichever copy comes second is refused (duplicate, or closed_round
            // if the round closed in between).
            #expect(metrics.allSatisfy { Set($0.rejected.keys).isSubset(of: ["duplicate", "closed_round"]) }, "\(metrics.map(\.rejected))")
            #expect(job.log("aggregator").contains("resumed round 1"))
            #expect(job.log("aggregator").contains("with 3 spooled update(s)"))
        }
    }

    @Test("an agent SIGKILLed while training, or after publishing, never publishes a second update for a round (a resent copy is the same bytes)")
    func agentCrash() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(broker: broker, job: "agentcrash", agents: 1, rounds: 2, target: 1, minimum: 1, epochs: 150)
            let watcher = try await connectedClient(clientOptions(broker))
            let topics = try Topics(job: "agentcrash")
            let updates = try await watcher.subscribe(to: [topics.allUpdates], qos: .atLeastOnce)
            let statuses = try await watcher.subscribe(to: [topics.status(agent: "a0")], qos: .atLeastOnce)
            // Distinct payloads per round: a restarted agent may send its kept update again (it
            // cannot know whether the first publish was acknowledged), but never another one.
            let counter = Task {
                var perRound: [String: Set<String>] = [:]
                for await message in updates { perRound[message.topic, default: []].insert(ModelCodec.sha256(message.payload)) }
                return perRound.mapValues(\.count)
            }
            let aggregator = try job.startAggregator()
            // Its training status as training starts: the kill below waits for it.
            let announcesTraining = ["--training-status-after", "0"]
            var agent = try job.startAgent(0, extra: announcesTraining)
            // Kill it while it trains round 1.
            for await message in statuses {
                if let status = try? ProtocolJSON.decode(AgentStatus.self, from: message.payload), status.state == .training { break }
            }
            agent.send(SIGKILL)
            _ = try await agent.wait()
            // Restart: round 1 was never published, so it trains and publishes it once; kill it
            // again as soon as round 1's update is out, then restart once more.
            agent = try job.startAgent(0)
            try await eventually("round 1 to close") { try job.metrics().count >= 1 }
            agent.send(SIGKILL)
            _ = try await agent.wait()
            agent = try job.startAgent(0)
            let status = try await within(.seconds(120), "the aggregator to finish") { try await aggregator.wait() }
            await agent.stop()
            #expect(status == 0, "\(job.log("aggregator").suffix(2000))")
            // Let the last QoS 1 deliveries reach the watcher, then count.
            try await Task.sleep(for: .milliseconds(300))
            updates.cancel()
            let counts = await counter.value
            #expect(counts == [topics.update(round: 1, agent: "a0"): 1, topics.update(round: 2, agent: "a0"): 1])
            #expect(try job.metrics().map(\.updates) == [1, 1])
            await watcher.disconnect()
        }
    }

    @Test("privacy budget end to end: the agent refuses once the next round would exceed it, also after a restart")
    func budgetRefusal() async throws {
        try await withLocalBroker { broker in
            let privacy = ClientPrivacy(mode: .local, clipNorm: 1, noiseMultiplier: 2, expectedCohort: 1)
            let job = try FederatedJob(broker: broker, job: "budget", agents: 1, rounds: 5, target: 1, minimum: 1, privacy: privacy)
            // Room for exactly two rounds of noise multiplier 2.
            let two = PrivacyLedger.epsilon(of: .init(repeating: .gaussian(noiseMultiplier: 2), count: 2), delta: 1e-5)
            let three = PrivacyLedger.epsilon(of: .init(repeating: .gaussian(noiseMultiplier: 2), count: 3), delta: 1e-5)
            let budget = ["--budget-epsilon", "\((two + three) / 2)", "--budget-delta", "1e-5"]
            let watcher = try await connectedClient(clientOptions(broker))
            let topics = try Topics(job: "budget")
            let statuses = try await watcher.subscribe(to: [topics.status(agent: "a0")], qos: .atLeastOnce)
            let published = try await watcher.subscribe(to: [topics.metrics], qos: .atLeastOnce)
            let aggregator = try job.startAggregator()
            var agent = try job.startAgent(0, extra: budget)
            func waitForRefusal() async throws -> AgentStatus {
                try await within(.seconds(60), "budget_exhausted") {
                    for await message in statuses {
                        if let status = try? ProtocolJSON.decode(AgentStatus.self, from: message.payload), status.state == .budgetExhausted {
                            return status
                        }
                    }
                    throw TimedOut(what: "status")
                }
            }
            let refused = try await waitForRefusal()
            #expect(refused.lastRound == 2)
            #expect(abs((refused.epsilonSpent ?? 0) - two) < 1e-9)
            // The aggregator logs and publishes round 2's metrics after it announces round 3, which
            // the agent refused: wait for them (fedmq status below reads the retained metrics).
            try await within(.seconds(60), "round 2's metrics") {
                for await message in published where (try? ProtocolJSON.decode(RoundMetrics.self, from: message.payload))?.round == 2 { return }
            }
            #expect(try job.metrics().count == 2)
            #expect(try #require(job.metrics().last?.epsilon) > 0)
            #expect(try job.metrics().last?.accountant == "rdp")
            // fedmq status says which accountant the epsilon comes from.
            let (_, screen) = try await runToEnd(
                try fedmqExecutable().path, ["status", "--port", "\(broker.port)", "--job", "budget"], log: job.directory.path + "/status.log")
            #expect(screen.contains("at delta 1e-05 (rdp) against anyone who sees the published models"), "\(screen)")
            await agent.stop()
            // The ledger survives the restart: the agent still refuses round 3.
            agent = try job.startAgent(0, extra: budget)
            let again = try await waitForRefusal()
            #expect(again.lastRound == 2)
            #expect(abs((again.epsilonSpent ?? 0) - two) < 1e-9)
            #expect(try job.metrics().count == 2)
            await agent.stop()
            await aggregator.stop()
            await watcher.disconnect()
        }
    }
}

@Suite("Federated evaluation and personalization with real processes", .hangGuard)
struct FederatedEvaluationJobTests {
    @Test("agents sending only their top 10% with error feedback: the job learns, updates are a fraction of the bytes, residuals are kept")
    func topKJob() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(broker: broker, job: "topk", agents: 3, rounds: 8, target: 3, minimum: 3)
            let aggregator = try job.startAggregator()
            let agents = try (0..<3).map { try job.startAgent($0, extra: ["--top-k", "0.1"]) }
            let status = try await within(.seconds(150), "the aggregator to finish") { try await aggregator.wait() }
            for agent in agents { await agent.stop() }
            #expect(status == 0, "\(job.log("aggregator").suffix(2000))")
            let metrics = try job.metrics()
            #expect(metrics.map(\.round) == Array(1...8))
            #expect(metrics.allSatisfy { $0.updates == 3 && $0.rejected.isEmpty })
            #expect(try #require(metrics.last?.accuracy) > 0.8, "\(metrics.map(\.accuracy))")
            // A dense float32 update of the 2,410-parameter MLP is 10,136 bytes; 10% of the entries
            // is 4 bytes x 242 values and about 300 bytes of position bitmaps (as indices: 968), plus
            // a header of about 780 bytes.
            let perUpdate = metrics.map { $0.bytesReceived / $0.updates }
            #expect(perUpdate.allSatisfy { $0 < 2200 }, "\(perUpdate)")

            let state = job.directory.appendingPathComponent("agent-0")
            let statePath = state.appendingPathComponent("agent-topk.state").path
            let kept = try #require(StateSections.decode(try SlotFile.newest(in: DurableFile.read(statePath), path: statePath)))
            let update = try SafetensorsDecoder.decode(try #require(kept["update"]))
            #expect(update.isSparse)
            #expect(update.blobs.keys.sorted() == ["W1.bitmap", "W2.bitmap", "b1.bitmap", "b2.bitmap"])
            #expect(try update.sparseParameters(orderedAs: ["W1", "b1", "W2", "b2"]).tensors.map(\.indices.count) == [205, 4, 32, 1])
            let residual = try SafetensorsDecoder.decode(try #require(kept["residual"]))
            #expect(residual.metadata[ModelCodec.Key.round] == "8")
            let norm = try Parameters(residual.tensors).l2Norm
            #expect(norm > 0)
            // A restarted agent picks up what it held back.
            try FileManager.default.removeItem(at: job.directory.appendingPathComponent("agent-0.log"))
            let restarted = try job.startAgent(0, extra: ["--top-k", "0.1"])
            try await eventually("the restarted agent to load its residual") { job.log("agent-0").contains("sending the top 10.0% of each tensor") }
            await restarted.stop()
            #expect(job.log("agent-0").contains("a residual of L2 norm \(norm) held back"), "\(job.log("agent-0").suffix(1500))")
        }
    }

    @Test("agents evaluate each global model on held-out rows (also fine-tuned), the aggregator reports the weighted result and spread")
    func federatedEvaluation() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(broker: broker, job: "fedeval", agents: 3, rounds: 4, target: 3, minimum: 3, evaluateEvery: 1)
            let aggregator = try job.startAggregator()
            let agents = try (0..<3).map { try job.startAgent($0, extra: ["--holdout", "0.2", "--personalize-epochs", "2"]) }
            let status = try await within(.seconds(120), "the aggregator to finish") { try await aggregator.wait() }
            for agent in agents { await agent.stop() }
            #expect(status == 0, "\(job.log("aggregator").suffix(2000))")
            let metrics = try job.metrics()
            #expect(metrics.map(\.round) == [1, 2, 3, 4])
            // An agent reports its evaluation of a round's base model before its update for that
            // round, so every round counts all three evaluations, however loaded the machine.
            let federated = metrics.compactMap(\.federated)
            #expect(federated.count == 4, "\(metrics.map(\.federated))")
            for (round, evaluation) in zip(metrics, metrics.map(\.federated)) {
                guard let evaluation else { continue }
                #expect(evaluation.round == round.round - 1)
                #expect(evaluation.agents == 3)
                // About 20% of each agent's ~480 rows are held out.
                #expect(evaluation.examples >= 90 * evaluation.agents && evaluation.examples <= 100 * evaluation.agents)
                #expect((0...1).contains(try #require(evaluation.accuracy)))
                #expect(evaluation.personalizedAccuracy != nil)
            }
            // After a few rounds the global model does well on the agents' own held-out rows.
            #expect(try #require(federated.last?.accuracy) > 0.85)
            #expect(job.log("agent-0").contains("held out"))
        }
    }
}
