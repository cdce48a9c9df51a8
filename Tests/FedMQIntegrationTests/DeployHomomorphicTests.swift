import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation
import Testing

extension DeployTests {
    @Test(
        "deploy init --homomorphic: the key holder's files and enrolment, a TLS round through the ACLs, and a key holder that can read no update"
    )
    func homomorphicFleet() async throws {
        let (out, port, broker) = try await generatedFleet("deploy-he", arguments: ["--agents", "3", "--job", "he", "--homomorphic"])
        let enrolment = try IdentityFiles.enrolment(at: out.appendingPathComponent("aggregator/enrolment.json").path)
        let keyholderIdentity = try IdentityFiles.signingKey(at: out.appendingPathComponent("keyholder/identity.key").path)
        #expect(enrolment.keyholder == keyholderIdentity.publicKey)
        for directory in ["keyholder", "agents/agent-0", "agents/agent-2"] {
            #expect(try IdentityFiles.enrolment(at: out.appendingPathComponent("\(directory)/enrolment.json").path) == enrolment, "\(directory)")
        }
        var children = try startGeneratedAgents(out, count: 3)
        try patchJSON(out.appendingPathComponent("aggregator/aggregator.json")) { config in
            config["state_directory"] = out.appendingPathComponent("aggregator-state").path
            var policy = config["policy"] as? [String: Any] ?? [:]
            policy["rounds"] = 1
            config["policy"] = policy
        }
        try patchJSON(out.appendingPathComponent("keyholder/keyholder.json")) { config in
            config["state_directory"] = out.appendingPathComponent("keyholder-state").path
        }
        children.append(
            try ChildProcess(
                try executable("fedmq-keyholder").path, ["--config", out.appendingPathComponent("keyholder/keyholder.json").path],
                logFile: out.appendingPathComponent("keyholder.log").path))
        let aggregator = try ChildProcess(
            try executable("fedmq-aggregator").path, ["--config", out.appendingPathComponent("aggregator/aggregator.json").path],
            logFile: out.appendingPathComponent("aggregator.log").path)
        let finished = try await within(.seconds(120), "the aggregator") { try await aggregator.wait() }
        let log = (try? String(contentsOf: out.appendingPathComponent("aggregator.log"), encoding: .utf8)) ?? ""
        #expect(finished == 0, "\(log.suffix(2000))")
        let metrics = try String(contentsOf: out.appendingPathComponent("aggregator-state/metrics.jsonl"), encoding: .utf8)
        #expect(metrics.contains(#""participants":["agent-0","agent-1","agent-2"]"#), "\(metrics)")
        #expect(!metrics.contains("failure"), "\(metrics)")
        for child in children { await child.stop() }
        // The key is the key holder's alone.
        let keyFile = try FileManager.default.attributesOfItem(atPath: out.appendingPathComponent("keyholder-state/paillier-key.json").path)
        #expect((keyFile[.posixPermissions] as? Int) == 0o600)

        // The key holder's certificate, listening on everything of the job, gets the request and
        // not the update published before it; it cannot write the model; the aggregator cannot
        // write the key holder's key or a sum.
        let keyholder = try await certifiedClient(out.appendingPathComponent("keyholder"), id: "fedmq-keyholder-check", port: port)
        let everything = try await keyholder.subscribe(to: ["fedmq/v1/he/round/9/#"], qos: .atLeastOnce)
        let agent = try await certifiedClient(out.appendingPathComponent("agents/agent-0"), id: "agent-0", port: port)
        #expect(!(try await agent.publish("fedmq/v1/he/round/9/update/agent-0", payload: [1])).isFailure)
        let aggregatorClient = try await certifiedClient(out.appendingPathComponent("aggregator"), id: "fedmq-aggregator-check", port: port)
        #expect(!(try await aggregatorClient.publish("fedmq/v1/he/round/9/he/request", payload: [2])).isFailure)
        let delivered = try await messages(everything, count: 1)
        #expect(delivered.map(\.topic) == ["fedmq/v1/he/round/9/he/request"])
        for (client, topic) in [
            (keyholder, "fedmq/v1/he/global/model"), (aggregatorClient, "fedmq/v1/he/he/key"), (aggregatorClient, "fedmq/v1/he/round/9/he/sum"),
            (agent, "fedmq/v1/he/he/key"),
        ] {
            let refused = try await #require(throws: MQTTError.self) { try await client.publish(topic, payload: [1]) }
            #expect(refused.code == .rejected(.notAuthorized), "\(topic)")
        }
        for client in [keyholder, agent, aggregatorClient] { await client.disconnect() }
        await broker.remove()
    }
}
