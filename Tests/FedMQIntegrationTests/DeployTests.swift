import FedMQAgent
import FedMQAggregator
import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation
import Testing

@Suite("Deployment kit with a real mosquitto", .hangGuard)
struct DeployTests {
    func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-\(name)-\(UUID().uuidString)")
    }

    @Test("deploy/mosquitto.conf and deploy/acl are what `fedmq deploy init` writes for the standard paths")
    func committedFilesMatchGenerator() async throws {
        let out = temporary("deploy-standard")
        let (status, output) = try await runToEnd(
            try fedmqExecutable().path,
            ["deploy", "init", "--agents", "1", "--broker-host", "broker.example", "--out", out.path, "--broker-dir", "/etc/mosquitto/fedmq"],
            log: out.path + ".log")
        #expect(status == 0, "\(output)")
        for name in ["mosquitto.conf", "acl"] {
            let generated = try String(contentsOf: out.appendingPathComponent("broker/\(name)"), encoding: .utf8)
            let committed = try String(contentsOfFile: repositoryFile("deploy/\(name)"), encoding: .utf8)
            #expect(generated == committed, "deploy/\(name) differs from the generator's output")
        }
    }

    @Test("add-agent raises the broker's max_queued_messages to the grown fleet's burst, and never lowers an operator's value")
    func addAgentRaisesQueue() async throws {
        let out = temporary("deploy-queue")
        defer { try? FileManager.default.removeItem(at: out) }
        let fedmq = try fedmqExecutable().path
        let (status, output) = try await runToEnd(
            fedmq, ["deploy", "init", "--agents", "1", "--broker-host", "broker.example", "--out", out.path], log: out.path + ".log")
        #expect(status == 0, "\(output)")
        let conf = out.appendingPathComponent("broker/mosquitto.conf")
        func queued() throws -> [String] {
            try String(contentsOf: conf, encoding: .utf8).split(separator: "\n").filter { $0.hasPrefix("max_queued_messages") }.map(String.init)
        }
        #expect(try queued() == ["max_queued_messages 10000"])
        // An operator's too-small value is raised to what two agents need (the floor of 10,000) ...
        try String(contentsOf: conf, encoding: .utf8).replacingOccurrences(of: "max_queued_messages 10000", with: "max_queued_messages 50")
            .write(to: conf, atomically: true, encoding: .utf8)
        let (added, addedOutput) = try await runToEnd(
            fedmq, ["deploy", "add-agent", "--agent", "agent-1", "--out", out.path], log: out.path + ".add.log")
        #expect(added == 0, "\(addedOutput)")
        #expect(try queued() == ["max_queued_messages 10000"])
        #expect(addedOutput.contains("Raised max_queued_messages to 10000"), "\(addedOutput)")
        // ... and a larger one is left as it is.
        try String(contentsOf: conf, encoding: .utf8).replacingOccurrences(of: "max_queued_messages 10000", with: "max_queued_messages 50000")
            .write(to: conf, atomically: true, encoding: .utf8)
        let (again, againOutput) = try await runToEnd(
            fedmq, ["deploy", "add-agent", "--agent", "agent-2", "--out", out.path], log: out.path + ".add2.log")
        #expect(again == 0, "\(againOutput)")
        #expect(try queued() == ["max_queued_messages 50000"])
        #expect(!againOutput.contains("Raised max_queued_messages"))
    }

    @Test(
        "a generated fleet starts as written (broker installed for the mosquitto user, an agent added later) and runs a TLS round; an agent cannot write another agent's topic"
    )
    func generatedFleet() async throws {
        let (out, port, broker) = try await generatedFleet("deploy-fleet", arguments: ["--agents", "1", "--job", "site"], adding: ["agent-1"])
        let fedmq = try fedmqExecutable().path
        // Data for the two agents, and a one-round job in the generated aggregator config.
        try patchJSON(out.appendingPathComponent("aggregator/aggregator.json")) { config in
            config["state_directory"] = out.appendingPathComponent("aggregator-state").path
            var policy = config["policy"] as? [String: Any] ?? [:]
            policy["rounds"] = 1
            // The fleet grew from one agent to two: the round waits for both.
            policy["target_updates"] = 2
            policy["min_updates"] = 2
            config["policy"] = policy
        }
        let children = try startGeneratedAgents(out, count: 2)
        let aggregator = try ChildProcess(
            try executable("fedmq-aggregator").path, ["--config", out.appendingPathComponent("aggregator/aggregator.json").path],
            logFile: out.appendingPathComponent("aggregator.log").path)
        let finished = try await within(.seconds(90), "the aggregator") { try await aggregator.wait() }
        let log = (try? String(contentsOf: out.appendingPathComponent("aggregator.log"), encoding: .utf8)) ?? ""
        #expect(finished == 0, "\(log.suffix(2000))")
        let metrics = try String(contentsOf: out.appendingPathComponent("aggregator-state/metrics.jsonl"), encoding: .utf8)
        #expect(metrics.contains(#""participants":["agent-0","agent-1"]"#))
        for child in children { await child.stop() }

        // The round above was signed end to end: the enrolment holds each generated identity's public half.
        #expect(log.contains("updates must be signed by one of 2 enrolled agents"))
        let enrolment = try IdentityFiles.enrolment(at: out.appendingPathComponent("aggregator/enrolment.json").path)
        #expect(enrolment.aggregator == (try IdentityFiles.signingKey(at: out.appendingPathComponent("aggregator/identity.key").path)).publicKey)
        for index in 0..<2 {
            let identity = try IdentityFiles.signingKey(at: out.appendingPathComponent("agents/agent-\(index)/identity.key").path)
            #expect(enrolment.agents["agent-\(index)"] == identity.publicKey)
            // Agents hold the same enrolment, for their secure-aggregation neighbours.
            let agentConfig = try loadJSONConfig(AgentConfig.self, from: out.appendingPathComponent("agents/agent-\(index)/agent.json").path)
            #expect(agentConfig.enrolment == "enrolment.json")
            #expect(try IdentityFiles.enrolment(at: out.appendingPathComponent("agents/agent-\(index)/enrolment.json").path) == enrolment)
        }
        // One agent's pull on the model is bounded from the start; the added agent is allowed.
        let generated = try loadJSONConfig(AggregatorConfig.self, from: out.appendingPathComponent("aggregator/aggregator.json").path)
        #expect(generated.policy.normBound == 10)
        #expect(generated.policy.allowedAgents == ["agent-0", "agent-1"])
        // `fedmq identity show` prints the public half an enrolment holds.
        let shown = try await runToEnd(
            fedmq, ["identity", "show", out.appendingPathComponent("agents/agent-1/identity.key").path], log: out.path + "-identity.log")
        #expect(shown.output.trimmingCharacters(in: .whitespacesAndNewlines) == enrolment.agents["agent-1"]?.base64)
        #expect(!log.contains("neither privacy nor norm_bound"))

        // With agent-0's certificate: its own topics work, another agent's update topic does not.
        let agent0 = out.appendingPathComponent("agents/agent-0")
        let options = ConnectionOptions(
            host: "127.0.0.1", port: port, clientID: "agent-0",
            tls: TLSOptions(
                caFile: agent0.appendingPathComponent("ca.crt").path, certificateFile: agent0.appendingPathComponent("tls.crt").path,
                keyFile: agent0.appendingPathComponent("tls.key").path))
        let client = try await connectedClient(options)
        let own = try await client.publish("fedmq/v1/site/round/9/update/agent-0", payload: [1])
        #expect(!own.isFailure)
        let error = try await #require(throws: MQTTError.self) {
            try await client.publish("fedmq/v1/site/round/9/update/agent-1", payload: [1])
        }
        #expect(error.code == .rejected(.notAuthorized))
        let forged = try await #require(throws: MQTTError.self) {
            try await client.publish("fedmq/v1/site/global/model", payload: [1], retain: true)
        }
        #expect(forged.code == .rejected(.notAuthorized))
        // Secure aggregation: its own stage topics and inbox; not another agent's, and no inbox writes.
        #expect(!(try await client.publish("fedmq/v1/site/round/9/secagg/keys/agent-0", payload: [1])).isFailure)
        for topic in ["fedmq/v1/site/round/9/secagg/keys/agent-1", "fedmq/v1/site/round/9/secagg/inbox/agent-0/roster"] {
            let refused = try await #require(throws: MQTTError.self) { try await client.publish(topic, payload: [1]) }
            #expect(refused.code == .rejected(.notAuthorized), "\(topic)")
        }
        // Mosquitto grants a wildcard subscription and checks each delivery: agent-0 listening on
        // every inbox gets only what the aggregator sends to its own.
        let inboxes = try await client.subscribe(to: ["fedmq/v1/site/round/+/secagg/inbox/+/+"], qos: .atLeastOnce)
        let aggregatorFiles = out.appendingPathComponent("aggregator")
        let aggregatorClient = try await connectedClient(
            ConnectionOptions(
                host: "127.0.0.1", port: port, clientID: "fedmq-aggregator-check",
                tls: TLSOptions(
                    caFile: aggregatorFiles.appendingPathComponent("ca.crt").path,
                    certificateFile: aggregatorFiles.appendingPathComponent("tls.crt").path,
                    keyFile: aggregatorFiles.appendingPathComponent("tls.key").path)))
        for agent in ["agent-1", "agent-0"] {
            _ = try await aggregatorClient.publish("fedmq/v1/site/round/9/secagg/inbox/\(agent)/roster", payload: Array(agent.utf8))
        }
        let delivered = try await messages(inboxes, count: 1)
        #expect(delivered.map(\.topic) == ["fedmq/v1/site/round/9/secagg/inbox/agent-0/roster"])
        await aggregatorClient.disconnect()
        await client.disconnect()

        // agent-1's certificate with agent-0's client id does not take agent-0's session: the
        // broker names clients by their certificates.
        let victim = try await connectedClient(options)
        let events = victim.connectionEvents()
        let agent1 = out.appendingPathComponent("agents/agent-1")
        var impostorOptions = options
        impostorOptions.tls = TLSOptions(
            caFile: agent1.appendingPathComponent("ca.crt").path, certificateFile: agent1.appendingPathComponent("tls.crt").path,
            keyFile: agent1.appendingPathComponent("tls.key").path)
        let impostor = try await connectedClient(impostorOptions)
        #expect(!(try await impostor.publish("fedmq/v1/site/status/agent-1", payload: [1])).isFailure)
        #expect(!(try await victim.publish("fedmq/v1/site/status/agent-0", payload: [1])).isFailure)
        await impostor.disconnect()
        await victim.disconnect()
        var seen: [ConnectionEvent] = []
        for await event in events { seen.append(event) }
        #expect(seen == [.disconnected(.requested)], "\(seen)")

        // The broker's certificate names localhost too: tools on the broker host verify it.
        var local = options
        local.host = "localhost"
        local.clientID = "fedmq-observer"
        let observerFiles = out.appendingPathComponent("observer")
        local.tls = TLSOptions(
            caFile: observerFiles.appendingPathComponent("ca.crt").path,
            certificateFile: observerFiles.appendingPathComponent("fedmq-observer.crt").path,
            keyFile: observerFiles.appendingPathComponent("fedmq-observer.key").path)
        await (try await connectedClient(local)).disconnect()

        // Without a certificate the broker refuses the connection.
        var anonymous = options
        anonymous.tls = TLSOptions(caFile: agent0.appendingPathComponent("ca.crt").path)
        let refused = try MQTTClient(options: anonymous)
        await #expect(throws: MQTTError.self) { try await refused.connect() }
        await refused.disconnect()
        await broker.remove()
        try? FileManager.default.removeItem(at: out)
    }

    @Test("the site-to-central bridge example forwards updates up and the retained model down")
    func bridge() async throws {
        try await withLocalBroker(LocalBrokerConfiguration(tls: true)) { central in
            let directory = temporary("bridge")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let sitePort = try LoopbackPort.free()
            let template = try String(contentsOfFile: repositoryFile("deploy/bridge/site-bridge.conf"), encoding: .utf8)
            let bridge = template.replacingOccurrences(of: "SITE_NAME", with: "test")
                .replacingOccurrences(of: "CENTRAL_HOST", with: "127.0.0.1")
                .replacingOccurrences(of: "CENTRAL_PORT", with: "\(try #require(central.tlsPort))")
                .replacingOccurrences(of: "CA_FILE", with: try #require(central.certificateAuthority).caCertificate)
            let config = directory.appendingPathComponent("site.conf").path
            try ("listener \(sitePort) 127.0.0.1\nallow_anonymous true\n" + (geteuid() == 0 ? "user root\n" : "") + bridge)
                .write(toFile: config, atomically: true, encoding: .utf8)
            let site = try await LocalBroker(existingConfig: config, port: sitePort, directory: directory)

            let aggregator = try await connectedClient(clientOptions(central))
            let updates = try await aggregator.subscribe(to: ["fedmq/v1/j/round/+/update/+"], qos: .atLeastOnce)
            var agentOptions = clientOptions(central)
            agentOptions.port = sitePort
            let agent = try await connectedClient(agentOptions)
            let models = try await agent.subscribe(to: ["fedmq/v1/j/global/model"], qos: .atLeastOnce)
            let update = [UInt8].pattern(count: 1 << 20)
            // The bridge connects in the background; publish until the first update arrives.
            try await eventually("the bridge to connect") { site.logTail(lines: 200).contains("Connecting bridge") }
            try await aggregator.publish("fedmq/v1/j/global/model", payload: [7, 7, 7], retain: true)
            try await agent.publish("fedmq/v1/j/round/1/update/a1", payload: update)
            let up = try await messages(updates, count: 1, within: .seconds(30))
            #expect(up[0].payload == update)
            let down = try await messages(models, count: 1, within: .seconds(30))
            #expect(down[0].payload == [7, 7, 7])
            // An agent that connects to its site broker later still gets the retained model,
            // flagged as retained: the bridge keeps what flows down retained at the site.
            let late = try await connectedClient(agentOptions)
            let retained = try await messages(
                try await late.subscribe(to: ["fedmq/v1/j/global/model"], qos: .atLeastOnce), count: 1, within: .seconds(30))
            #expect(retained[0].payload == [7, 7, 7])
            #expect(retained[0].retain)
            await late.disconnect()
            // Every feature's topics cross: evaluations and secure-aggregation stages up, inboxes
            // and unmask requests down.
            let upward = try await aggregator.subscribe(
                to: ["fedmq/v1/j/round/+/eval/+", "fedmq/v1/j/round/+/secagg/+/+"], qos: .atLeastOnce)
            let downward = try await agent.subscribe(
                to: ["fedmq/v1/j/round/+/secagg/inbox/a1/+", "fedmq/v1/j/round/+/secagg/unmask"], qos: .atLeastOnce)
            let sentUp = ["fedmq/v1/j/round/1/eval/a1", "fedmq/v1/j/round/1/secagg/keys/a1", "fedmq/v1/j/round/1/secagg/masked/a1"]
            for topic in sentUp { try await agent.publish(topic, payload: Array(topic.utf8)) }
            let sentDown = ["fedmq/v1/j/round/1/secagg/inbox/a1/roster", "fedmq/v1/j/round/1/secagg/unmask"]
            for topic in sentDown { try await aggregator.publish(topic, payload: Array(topic.utf8), retain: true) }
            #expect(Set(try await messages(upward, count: 3, within: .seconds(30)).map(\.topic)) == Set(sentUp))
            #expect(Set(try await messages(downward, count: 2, within: .seconds(30)).map(\.topic)) == Set(sentDown))
            await agent.disconnect()
            await aggregator.disconnect()
            await site.remove()
        }
    }

    @Test("the simulation's site bridges forward the topics of the deploy examples, in the same directions")
    func simulationBridgeMatchesExample() throws {
        let template = try String(contentsOfFile: repositoryFile("deploy/bridge/site-bridge.conf"), encoding: .utf8)
        let example = template.split(separator: "\n").filter { $0.hasPrefix("topic ") }.map(String.init)
        let simulated = SiteBridge(site: "s", centralPort: 1883).lines.filter { $0.hasPrefix("topic ") }
        #expect(example.count == SiteBridge.topics.count)
        #expect(simulated == example)
        let partials = try String(contentsOfFile: repositoryFile("deploy/bridge/site-partials.conf"), encoding: .utf8)
            .replacingOccurrences(of: "SITE_NAME", with: "north")
        let partialsExample = partials.split(separator: "\n").filter { $0.hasPrefix("topic ") }.map(String.init)
        let partialsSimulated = SiteBridge(site: "north", centralPort: 1883, mode: .partials).lines.filter { $0.hasPrefix("topic ") }
        #expect(partialsExample.count == 5)
        #expect(partialsSimulated == partialsExample)
    }

    @Test("the systemd units pass systemd-analyze verify")
    func systemdUnits() async throws {
        let directory = temporary("units")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var paths: [String] = []
        for (unit, binary) in [
            ("fedmq-agent.service", "fedmq-agent"), ("fedmq-aggregator.service", "fedmq-aggregator"), ("fedmq-keyholder.service", "fedmq-keyholder"),
        ] {
            let text = try String(contentsOfFile: repositoryFile("deploy/systemd/\(unit)"), encoding: .utf8)
            #expect(text.contains("DynamicUser=yes") && text.contains("ProtectSystem=strict") && text.contains("Restart=always"))
            #expect(text.contains("StateDirectory="))
            // Keys stay root-only; the dynamic user reads systemd's private copies.
            #expect(text.contains("LoadCredential=identity.key:") && text.contains("LoadCredential=tls.key:") && text.contains("%d/identity.key"))
            // Point ExecStart at the freshly built binary, which verify requires to exist.
            let local = text.replacingOccurrences(of: "/usr/local/bin/\(binary)", with: try executable(binary).path)
            let path = directory.appendingPathComponent(unit).path
            try local.write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
        }
        let (status, output) = try await runToEnd(try Programs.path(of: "systemd-analyze"), ["verify"] + paths, log: directory.path + "/verify.log")
        #expect(status == 0, "\(output)")
        #expect(!output.contains(directory.path), "\(output)")
    }

    /// `fedmq deploy init` with `arguments` for a loopback broker on a free port, the broker
    /// started from the generated config. As root (CI), exactly as a broker host runs it:
    /// installed by the generated script for the mosquitto user, which the broker switches to
    /// before it reads keys and ACL. Without root, the broker runs as this user from the
    /// generated folder. Agents `adding` join with `fedmq deploy add-agent` before the install.
    func generatedFleet(_ name: String, arguments: [String], adding: [String] = []) async throws -> (out: URL, port: Int, broker: LocalBroker) {
        let out = temporary(name)
        let port = try LoopbackPort.free()
        let asRoot = geteuid() == 0
        let installed = out.appendingPathComponent(asRoot ? "etc-mosquitto-fedmq" : "broker")
        let (status, output) = try await runToEnd(
            try fedmqExecutable().path,
            ["deploy", "init"] + arguments + [
                "--broker-host", "127.0.0.1", "--port", "\(port)", "--listen-address", "127.0.0.1",
                "--broker-user", asRoot ? "mosquitto" : String(cString: getpwuid(geteuid()).pointee.pw_name), "--broker-dir", installed.path,
                "--persistence-dir", out.appendingPathComponent("data").path + "/", "--out", out.path,
            ], log: out.path + ".log")
        #expect(status == 0, "\(output)")
        for agent in adding {
            let added = try await runToEnd(
                try fedmqExecutable().path, ["deploy", "add-agent", "--agent", agent, "--out", out.path], log: out.path + "-add-\(agent).log")
            #expect(added.status == 0, "\(added.output)")
        }
        if asRoot {
            let script = try await runToEnd("/bin/sh", [out.appendingPathComponent("broker/install.sh").path], log: out.path + "-install.log")
            #expect(script.status == 0, "\(script.output)")
            let key = try FileManager.default.attributesOfItem(atPath: installed.appendingPathComponent("broker.key").path)
            #expect((key[.posixPermissions] as? Int) == 0o640 && (key[.groupOwnerAccountName] as? String) == "mosquitto")
        } else {
            try FileManager.default.createDirectory(at: out.appendingPathComponent("data"), withIntermediateDirectories: true)
        }
        let broker = try await LocalBroker(
            existingConfig: installed.appendingPathComponent("mosquitto.conf").path, port: port, directory: out.appendingPathComponent("run"))
        #expect(!broker.logTail(lines: 50).contains("Warning: ACL"), "\(broker.logTail(lines: 50))")
        return (out, port, broker)
    }

    /// The generated fleet's first `count` agents, each with its share of digits (IID) and its
    /// state in its own folder, started from their generated configs.
    func startGeneratedAgents(_ out: URL, count: Int) throws -> [ChildProcess] {
        let digits = try CSVReader.read(file: repositoryFile("data/digits.csv"), options: CSVOptions(hasHeader: true))
        return try Partitioner.iid.partition(digits, clients: count, classes: 10, seed: 0).enumerated().map { index, rows in
            let directory = out.appendingPathComponent("agents/agent-\(index)")
            try CSVWriter.write(digits.subset(rows), to: directory.appendingPathComponent("data.csv").path)
            try patchJSON(directory.appendingPathComponent("agent.json")) { config in
                config["data_csv"] = directory.appendingPathComponent("data.csv").path
                config["state_directory"] = directory.appendingPathComponent("state").path
            }
            return try ChildProcess(
                try executable("fedmq-agent").path, ["--config", directory.appendingPathComponent("agent.json").path],
                logFile: directory.appendingPathComponent("agent.log").path)
        }
    }

    /// A client with the certificate of `directory` (`tls.crt`, `tls.key`, `ca.crt`).
    func certifiedClient(_ directory: URL, id: String, port: Int) async throws -> MQTTClient {
        try await connectedClient(
            ConnectionOptions(
                host: "127.0.0.1", port: port, clientID: id,
                tls: TLSOptions(
                    caFile: directory.appendingPathComponent("ca.crt").path, certificateFile: directory.appendingPathComponent("tls.crt").path,
                    keyFile: directory.appendingPathComponent("tls.key").path)))
    }

    func patchJSON(_ url: URL, _ change: (inout [String: Any]) -> Void) throws {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        change(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }
}
