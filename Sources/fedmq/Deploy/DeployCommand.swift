import ArgumentParser
import FedMQCommandLine
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import Foundation

struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Generate what a real fleet needs.",
        subcommands: [DeployInit.self]
    )
}

/// `fedmq deploy init`: a CA, certificates for the broker, the aggregator, an observer and N
/// agents, the broker's config and ACL, and a config file per process.
struct DeployInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create certificates, the broker config and ACL, and per-agent configs in OUT.",
        discussion: """
            OUT/ca/           the CA (keep ca.key offline)
            OUT/broker/       mosquitto.conf, acl, ca.crt, broker.crt, broker.key (copy to /etc/mosquitto/fedmq)
            OUT/aggregator/   aggregator.json, tls.crt and tls.key, identity.key, enrolment.json (edit 'model' and 'policy')
            OUT/agents/<id>/  agent.json, tls.crt and tls.key, identity.key, enrolment.json (set 'data_csv'); copy to the device's /etc/fedmq
            Keys are 0600; the systemd units in deploy/systemd hand them to the service with LoadCredential=
            OUT/observer/     a read-only certificate for mosquitto_sub
            Paths inside agent.json and aggregator.json are relative to the file itself.
            """
    )

    @Option(help: "Number of agents.") var agents: Int
    @Option(name: .customLong("agent-prefix"), help: "Agent ids are PREFIX0, PREFIX1, ...") var agentPrefix = "agent-"
    @Option(help: "Job id.") var job = "fleet"
    @Option(name: .customLong("broker-host"), help: "The broker's host name or address, as clients reach it (in its certificate).")
    var brokerHost: String
    @Option(help: "The broker's TLS port.") var port = 8883
    @Option(name: .customLong("listen-address"), help: "Address the broker listens on.") var listenAddress = "0.0.0.0"
    @Option(name: .customLong("broker-dir"), help: "Where the broker's files will live on the broker host (default: OUT/broker).")
    var brokerDirectory: String?
    @Option(name: .customLong("persistence-dir"), help: "The broker's persistence directory.") var persistenceDirectory = "/var/lib/mosquitto/"
    @Option(name: .customLong("broker-user"), help: "User mosquitto switches to when started as root.") var brokerUser = "mosquitto"
    @Option(name: .customLong("max-packet-mb"), help: "Largest MQTT packet in MiB (size it to the model).") var maxPacketMB = 64
    @Option(name: .customLong("max-queued-mb"), help: "Most MiB the broker queues for one client.") var maxQueuedMB = 1024
    @Option(help: "Output directory.") var out: String

    func validate() throws {
        guard (1...10_000).contains(agents) else { throw ValidationError("--agents must be within 1...10000") }
        guard Identifier.isValid(job), Identifier.isValid("\(agentPrefix)0") else {
            throw ValidationError("--job and --agent-prefix must be valid ids")
        }
        guard (1...65535).contains(port), maxPacketMB >= 1, maxQueuedMB >= maxPacketMB else {
            throw ValidationError("--port, --max-packet-mb or --max-queued-mb is out of range (the queue must hold one packet)")
        }
    }

    func run() throws {
        let root = URL(fileURLWithPath: out).standardizedFileURL
        guard !FileManager.default.fileExists(atPath: root.appendingPathComponent("ca/ca.key").path) else {
            throw CommandFailure("\(root.path) already holds a CA; refusing to overwrite it")
        }
        let authority = try CertificateAuthority(directory: root.appendingPathComponent("ca"), name: "FedMQ \(job) CA")
        let brokerFiles = root.appendingPathComponent("broker")
        try install(try authority.issue(commonName: "broker", hosts: [brokerHost]), as: "broker", into: brokerFiles, authority: authority)
        let template = BrokerConfigTemplate(
            directory: brokerDirectory ?? brokerFiles.path, persistenceDirectory: persistenceDirectory, listenAddress: listenAddress,
            port: port, user: brokerUser, maxPacketBytes: maxPacketMB << 20, maxQueuedBytes: maxQueuedMB << 20)
        try template.mosquittoConf.write(to: brokerFiles.appendingPathComponent("mosquitto.conf"), atomically: true, encoding: .utf8)
        try BrokerConfigTemplate.acl.write(to: brokerFiles.appendingPathComponent("acl"), atomically: true, encoding: .utf8)

        let ids = (0..<agents).map { "\(agentPrefix)\($0)" }
        let broker: [String: Any] = ["host": brokerHost, "port": port, "ca_file": "ca.crt"]
        // Ed25519 identities: agents sign their updates, the aggregator signs the model and rounds.
        let aggregator = root.appendingPathComponent("aggregator")
        try FileManager.default.createDirectory(at: aggregator, withIntermediateDirectories: true)
        let aggregatorIdentity = SigningKey()
        try IdentityFiles.write(aggregatorIdentity, to: aggregator.appendingPathComponent("identity.key").path)
        var enrolled: [String: VerifyingKey] = [:]
        for id in ids {
            let directory = root.appendingPathComponent("agents/\(id)")
            try install(try authority.issue(commonName: id), as: "tls", into: directory, authority: authority)
            let identity = SigningKey()
            try IdentityFiles.write(identity, to: directory.appendingPathComponent("identity.key").path)
            enrolled[id] = identity.publicKey
            try writeJSON(
                [
                    "agent": id, "job": job, "broker": broker.merging(["cert_file": "tls.crt", "key_file": "tls.key"]) { $1 },
                    "data_csv": "/var/lib/fedmq-agent/data.csv", "state_directory": "/var/lib/fedmq-agent",
                    "identity_key": "identity.key", "aggregator_key": aggregatorIdentity.publicKey.base64, "enrolment": "enrolment.json",
                ], to: directory.appendingPathComponent("agent.json"))
        }
        // Public keys only: the aggregator checks updates against it, agents check secure-aggregation neighbours.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let enrolment = try encoder.encode(Enrolment(aggregator: aggregatorIdentity.publicKey, agents: enrolled))
        for directory in [aggregator] + ids.map({ root.appendingPathComponent("agents/\($0)") }) {
            try enrolment.write(to: directory.appendingPathComponent("enrolment.json"))
        }
        try install(try authority.issue(commonName: "fedmq-aggregator"), as: "tls", into: aggregator, authority: authority)
        try writeJSON(
            [
                "job": job, "identity_key": "identity.key", "enrolment": "enrolment.json",
                "broker": broker.merging(["cert_file": "tls.crt", "key_file": "tls.key"]) { $1 },
                "model": ["version": 1, "kind": "softmax_regression", "inputs": 64, "hidden": [Int](), "outputs": 10, "activation": "relu"],
                "policy": [
                    "rounds": 30, "target_updates": agents, "min_updates": max(1, agents * 7 / 10), "round_seconds": 300,
                    "extension_seconds": 120, "allowed_agents": ids,
                    // Bounds one agent's pull on the model (no privacy is set): size it to the model's updates.
                    "norm_bound": 10,
                    // The bounds, explicit: an update as large as the broker lets through, a spool for every agent's.
                    "max_update_bytes": maxPacketMB << 20, "max_spool_bytes": agents * (maxPacketMB << 20), "max_agents": agents,
                ],
                "state_directory": "/var/lib/fedmq-aggregator",
            ], to: aggregator.appendingPathComponent("aggregator.json"))
        try install(
            try authority.issue(commonName: "fedmq-observer"), as: "fedmq-observer", into: root.appendingPathComponent("observer"),
            authority: authority)
        print("Wrote a CA, the broker config and ACL, the aggregator's config and \(agents) agent configs to \(root.path)")
        print(
            "Watch with: mosquitto_sub -h \(brokerHost) -p \(port) --cafile \(root.path)/observer/ca.crt "
                + "--cert \(root.path)/observer/fedmq-observer.crt --key \(root.path)/observer/fedmq-observer.key -v -t 'fedmq/v1/\(job)/metrics'")
    }

    /// Moves an issued certificate and key into `directory` beside a copy of the CA certificate.
    private func install(_ issued: (certificate: String, key: String), as name: String, into directory: URL, authority: CertificateAuthority) throws {
        let files = FileManager.default
        try files.createDirectory(at: directory, withIntermediateDirectories: true)
        for (source, target) in [(issued.certificate, "\(name).crt"), (issued.key, "\(name).key"), (authority.caCertificate, "ca.crt")] {
            let destination = directory.appendingPathComponent(target)
            try? files.removeItem(at: destination)
            try files.copyItem(atPath: source, toPath: destination.path)
        }
        try files.setAttributes([.posixPermissions: 0o600], ofItemAtPath: directory.appendingPathComponent("\(name).key").path)
        for leftover in [issued.certificate, issued.key] where !leftover.hasSuffix("ca.crt") { try? files.removeItem(atPath: leftover) }
    }

    private func writeJSON(_ object: [String: Any], to url: URL) throws {
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]).write(to: url)
    }
}
