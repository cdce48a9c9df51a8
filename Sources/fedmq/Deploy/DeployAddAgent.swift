import ArgumentParser
import FedMQCommandLine
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import Foundation

/// `fedmq deploy add-agent`: one more agent for a fleet made by `fedmq deploy init`, with the
/// same CA: its certificate, identity and config, its block in the broker's ACL, its public key
/// in every enrolment, and its id in the aggregator's `allowed_agents` (with `max_agents` and
/// `max_spool_bytes` grown to match; `target_updates` stays the operator's choice), and the
/// broker's `max_queued_messages` raised when the fleet outgrows it.
struct DeployAddAgent: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-agent",
        abstract: "Add an agent to a fleet made by `fedmq deploy init` (same CA, ACL, enrolment and allowed agents).",
        discussion: """
            Writes OUT/agents/<id>/ and updates OUT/broker/acl, OUT/aggregator/aggregator.json and every enrolment.json
            (and raises max_queued_messages in OUT/broker/mosquitto.conf when the fleet outgrows it).
            Then: copy the ACL to the broker and reload it (SIGHUP), the aggregator's aggregator.json and enrolment.json
            to its host and restart it, enrolment.json to every agent (secure aggregation checks neighbours against it),
            and OUT/agents/<id>/ to the new device.
            """
    )

    @Option(help: "The new agent's id (its certificate's name).") var agent: String
    @Option(help: "The fleet's directory (the OUT of `fedmq deploy init`).") var out: String

    func validate() throws {
        guard Identifier.isValid(agent) else { throw ValidationError("--agent must be a valid id") }
    }

    func run() throws {
        let root = URL(fileURLWithPath: out).standardizedFileURL
        let authority = try CertificateAuthority(existing: root.appendingPathComponent("ca"))
        let directory = root.appendingPathComponent("agents/\(agent)")
        guard !FileManager.default.fileExists(atPath: directory.path) else { throw CommandFailure("\(directory.path) already exists") }
        let aggregatorFile = root.appendingPathComponent("aggregator/aggregator.json")
        var aggregatorConfig = try FleetFiles.readJSON(aggregatorFile)
        var enrolment = try IdentityFiles.enrolment(at: root.appendingPathComponent("aggregator/enrolment.json").path)
        guard let job = aggregatorConfig["job"] as? String, var broker = aggregatorConfig["broker"] as? [String: Any],
            let aggregatorKey = enrolment.aggregator
        else { throw CommandFailure("\(aggregatorFile.path) has no job or broker, or the enrolment no aggregator key") }
        broker["cert_file"] = nil
        broker["key_file"] = nil

        enrolment.agents[agent] = try FleetFiles.makeAgent(
            agent, job: job, broker: broker, aggregatorKey: aggregatorKey, in: root, authority: authority)
        try FleetFiles.writeEnrolment(enrolment, in: root)
        let acl = root.appendingPathComponent("broker/acl")
        let rules = try String(contentsOf: acl, encoding: .utf8) + BrokerConfigTemplate.agentBlock(agent)
        try rules.write(to: acl, atomically: true, encoding: .utf8)
        let raisedQueue = try Self.raiseQueuedMessages(in: root.appendingPathComponent("broker/mosquitto.conf"), agents: enrolment.agents.count)
        if var policy = aggregatorConfig["policy"] as? [String: Any] {
            if let allowed = policy["allowed_agents"] as? [String] { policy["allowed_agents"] = allowed + [agent] }
            if let most = policy["max_agents"] as? Int { policy["max_agents"] = max(most, enrolment.agents.count) }
            // As `deploy init` sizes it: a spool with room for every agent's largest update.
            if let spool = policy["max_spool_bytes"] as? Int, let update = policy["max_update_bytes"] as? Int {
                policy["max_spool_bytes"] = max(spool, enrolment.agents.count * update)
            }
            aggregatorConfig["policy"] = policy
        }
        try FleetFiles.writeJSON(aggregatorConfig, to: aggregatorFile)
        print("Added \(agent): \(directory.path)")
        if let raisedQueue {
            print(
                "Raised max_queued_messages to \(raisedQueue) in broker/mosquitto.conf for \(enrolment.agents.count) agents: copy it to the broker too."
            )
        }
        print("Now reload the broker's ACL (copy \(acl.path), then SIGHUP), restart the aggregator with the new aggregator.json and")
        print("enrolment.json, and give every agent the new enrolment.json.")
    }

    /// Raises the broker config's `max_queued_messages` to what the grown fleet's end-of-round
    /// burst needs (`BrokerSizing`), never lowering what an operator set; the new value, if raised.
    static func raiseQueuedMessages(in config: URL, agents: Int) throws -> Int? {
        let needed = BrokerSizing.queuedMessages(forAgents: agents)
        let text = try String(contentsOf: config, encoding: .utf8)
        var raised: Int?
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            let words = line.split(separator: " ")
            guard words.count == 2, words[0] == "max_queued_messages", let current = Int(words[1]), current < needed else { return String(line) }
            raised = needed
            return "max_queued_messages \(needed)"
        }
        if raised != nil { try lines.joined(separator: "\n").write(to: config, atomically: true, encoding: .utf8) }
        return raised
    }
}
