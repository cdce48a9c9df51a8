import FedMQCore
import FedMQHomomorphic
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import Foundation
import Testing

/// Homomorphic jobs with real processes: `fedmq-keyholder`, `fedmq-aggregator` and
/// `fedmq-agent`s on a real mosquitto, an enrolled fleet with a key holder.
@Suite("Homomorphic jobs with real processes", .hangGuard)
struct HomomorphicJobTests {
    /// The decryption deadline only guards against a key holder that never answers: round 1
    /// waits for the frozen key holder until this test kills it and starts it again.
    static let settings = HomomorphicSettings(clip: 0.5, scale: 1_048_576, decryptSeconds: 600)

    func startKeyholder(_ job: FederatedJob, fleet: TestFleet, minUpdates: Int) throws -> ChildProcess {
        try ChildProcess(
            try executable("fedmq-keyholder").path,
            [
                "--job", job.job, "--port", "\(job.port)", "--state-dir", job.directory.appendingPathComponent("keyholder").path,
                "--identity-key", try #require(fleet.keyholderKey), "--enrolment", fleet.enrolment, "--min-updates", "\(minUpdates)", "--log-level",
                "debug",
            ], logFile: job.directory.appendingPathComponent("keyholder.log").path)
    }

    /// The key holder's private key, read from its state directory.
    func privateKey(_ job: FederatedJob) throws -> PaillierPrivateKey {
        let data = try Data(contentsOf: job.directory.appendingPathComponent("keyholder/paillier-key.json"))
        let file = try #require(try JSONSerialization.jsonObject(with: data) as? [String: String])
        func number(_ name: String) throws -> BigInteger { BigInteger(bigEndian: Array(try #require(Data(base64Encoded: file[name] ?? "")))) }
        return try #require(PaillierPrivateKey(p: try number("p"), q: try number("q")))
    }

    @Test(
        "10 enrolled agents, 3 never come: every round closes with the 7, each sum is exactly the sum of their plaintexts, and the key holder survives a SIGKILL mid-round"
    )
    func dropoutAndKeyholderRestart() async throws {
        try await withLocalBroker { broker in
            let fleet = try TestFleet(directory: broker.directory.appendingPathComponent("he-keys"), agents: 10, keyholder: true)
            let job = try FederatedJob(
                broker: broker, job: "he", agents: 10, rounds: 3, target: 10, minimum: 7, epochs: 1,
                extraConfig: ["identity_key": fleet.aggregatorKey, "enrolment": fleet.enrolment], roundSeconds: 4, homomorphic: Self.settings)
            let topics = try Topics(job: "he")
            let watcher = try await connectedClient(clientOptions(broker))
            let traffic = try await watcher.subscribe(to: [topics.allUpdates, topics.allDecryptedSums], qos: .atLeastOnce)
            // Every round's updates (by agent; a resent copy is the same bytes) and its sum.
            let collector = Task {
                var updates: [Int: [String: [UInt8]]] = [:]
                var sums: [Int: [UInt8]] = [:]
                for await message in traffic {
                    switch try? topics.parse(message.topic) {
                    case .update(let round, let agent): updates[round, default: [:]][agent] = message.payload
                    case .decryptedSum(let round): sums[round] = message.payload
                    default: break
                    }
                    if sums.count == 3 { break }
                }
                return (updates, sums)
            }
            var keyholder = try startKeyholder(job, fleet: fleet, minUpdates: 7)
            // Frozen once its key is out, the key holder cannot answer round 1: the SIGKILL below
            // lands while the round waits for its sum, however late this test gets there.
            try await eventually("the key holder to publish its key") { job.log("keyholder").contains("published the public key") }
            keyholder.send(SIGSTOP)
            let aggregator = try job.startAggregator()
            let agents = try (0..<7).map { try job.startAgent($0, extra: fleet.agentArguments($0)) }
            try await eventually("round 1 to ask the key holder", within: .seconds(240)) {
                job.log("aggregator").contains("asked the key holder to decrypt")
            }
            #expect(try job.metrics().isEmpty, "round 1 closed without the key holder")
            keyholder.send(SIGKILL)
            _ = try await keyholder.wait()
            keyholder = try startKeyholder(job, fleet: fleet, minUpdates: 7)
            let finished = try await within(.seconds(240), "the homomorphic job to finish") { try await aggregator.wait() }
            let (updates, sums) = try await within(.seconds(30), "the watcher to see every sum") { await collector.value }
            // fedmq status names the key holder beside the aggregator while it runs.
            let (_, status) = try await runToEnd(
                try fedmqExecutable().path, ["status", "--job", "he", "--host", "127.0.0.1", "--port", "\(job.port)"],
                log: job.directory.path + "/status.log")
            #expect(
                status.contains("key holder: online, key ") && status.contains("decrypts sums of at least 7, last decrypted round 3"), "\(status)")
            for agent in agents { await agent.stop() }
            await keyholder.stop()
            await watcher.disconnect()
            #expect(finished == 0, "\(job.log("aggregator").suffix(2000))")

            let metrics = try job.metrics()
            let seven = (0..<7).map { "a\($0)" }
            #expect(metrics.map(\.round) == [1, 2, 3])
            #expect(metrics.allSatisfy { $0.participants == seven && $0.failure == nil }, "\(metrics)")
            // Against plain FedAvg of the same 7 agents: the same model up to quantization.
            let plain = try FederatedJob(
                broker: broker, job: "plain", agents: 10, rounds: 3, target: 10, minimum: 7, epochs: 1, roundSeconds: 4, weighting: .uniform)
            let plainAggregator = try plain.startAggregator()
            let plainAgents = try (0..<7).map { try plain.startAgent($0) }
            #expect(try await within(.seconds(120), "the plain job to finish") { try await plainAggregator.wait() } == 0)
            for agent in plainAgents { await agent.stop() }
            let plainAccuracy = try plain.metrics().map { $0.accuracy ?? 0 }
            let accuracy = metrics.map { $0.accuracy ?? 0 }
            #expect(zip(accuracy, plainAccuracy).allSatisfy { abs($0 - $1) <= 0.01 }, "homomorphic \(accuracy), plain \(plainAccuracy)")
            // Exact sums: the key holder's plaintexts are the sums of the agents' plaintexts.
            let key = try privateKey(job)
            let fingerprint = ModelCodec.sha256(key.publicKey.n.bigEndianBytes())
            for round in 1...3 {
                let sent = try #require(updates[round])
                #expect(Set(sent.keys) == Set(seven))
                let width = (key.publicKey.nSquared.bitWidth + 7) / 8
                var total: [BigInteger]?
                for payload in sent.values {
                    let file = try SafetensorsDecoder.decode(payload)
                    #expect(file.metadata["fedmq.he.key_sha256"] == fingerprint)
                    let blob = try #require(file.blobs["ciphertexts"])
                    let plaintexts = try (0..<blob.shape[0]).map { index in
                        try key.decrypt(BigInteger(bigEndian: Array(blob.bytes[index * width..<(index + 1) * width])))
                    }
                    total = total.map { zip($0, plaintexts).map { ($0 + $1).modulo(key.publicKey.n) } } ?? plaintexts
                }
                let sum = try SafetensorsDecoder.decode(try #require(sums[round]))
                let sumBlob = try #require(sum.blobs["sums"])
                let sumWidth = sumBlob.shape[1]
                let published = (0..<sumBlob.shape[0]).map { BigInteger(bigEndian: Array(sumBlob.bytes[$0 * sumWidth..<($0 + 1) * sumWidth])) }
                #expect(published == total, "round \(round)")
            }
            // fedmq inspect shows what an agent kept: ciphertexts, under the key holder's key.
            let kept = job.directory.appendingPathComponent("agent-0/agent-he.state").path
            let (inspected, described) = try await runToEnd(try fedmqExecutable().path, ["inspect", kept], log: job.directory.path + "/inspect.log")
            #expect(inspected == 0 && described.contains("agent state of job he: last served round "), "\(described)")
            #expect(described.contains("kept update: safetensors") && described.contains("fedmq.kind = encrypted_update"), "\(described)")
            #expect(described.contains("ciphertexts U8 ["), "\(described)")
            #expect(described.contains("fedmq.he.key_sha256 = \(fingerprint)"))
            // The restarted key holder kept its key; the aggregator never saw a plaintext update.
            #expect(job.log("keyholder").contains("loaded a 2048-bit Paillier key"))
            #expect(!job.log("aggregator").contains("rejected update"), "\(job.log("aggregator").suffix(2000))")
        }
    }
}
