import ArgumentParser
import FedMQCommandLine
import FedMQCore
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import Foundation

struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Generate what a real fleet needs.",
        subcommands: [DeployInit.self, DeployAddAgent.self]
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
            OUT/broker/       mosquitto.conf, acl, ca.crt, broker.crt, broker.key, install.sh (run it as root on the broker host)
            OUT/aggregator/   aggregator.json, tls.crt and tls.key, identity.key, enrolment.json (model from --model-spec)
            OUT/agents/<id>/  agent.json, tls.crt and tls.key, identity.key, enrolment.json (set 'data_csv'); copy to the device's /etc/fedmq
            Keys are 0600; the systemd units in deploy/systemd hand them to the service with LoadCredential=
            OUT/keyholder/    with --homomorphic: keyholder.json, tls.crt and tls.key, identity.key, enrolment.json (run it apart from the aggregator)
            OUT/observer/     a read-only certificate for mosquitto_sub
            Paths inside agent.json and aggregator.json are relative to the file itself.
            """
    )

    @Option(help: "Number of agents.") var agents: Int
    @Option(name: .customLong("agent-prefix"), help: "Agent ids are PREFIX0, PREFIX1, ...") var agentPrefix = "agent-"
    @Option(help: "Job id.") var job = "fleet"
    @Option(
        name: .customLong("broker-host"),
        help:
            "The broker's host name or address as clients reach it; repeat for more names (all go into its certificate, with localhost and 127.0.0.1)."
    )
    var brokerHosts: [String]
    /// The name clients connect by.
    var brokerHost: String { brokerHosts.first ?? "localhost" }
    @Option(help: "The broker's TLS port.") var port = 8883
    @Option(name: .customLong("listen-address"), help: "Address the broker listens on.") var listenAddress = "0.0.0.0"
    @Option(name: .customLong("broker-dir"), help: "Where the broker's files will live on the broker host (default: OUT/broker).")
    var brokerDirectory: String?
    @Option(name: .customLong("persistence-dir"), help: "The broker's persistence directory.") var persistenceDirectory = "/var/lib/mosquitto/"
    @Option(name: .customLong("broker-user"), help: "User mosquitto switches to when started as root.") var brokerUser = "mosquitto"
    @Option(name: .customLong("max-packet-mb"), help: "Largest MQTT packet in MiB (size it to the model).") var maxPacketMB = 64
    @Option(name: .customLong("max-queued-mb"), help: "Most MiB the broker queues for one client.") var maxQueuedMB = 1024
    @Option(
        name: .customLong("model-spec"), help: "The job's model spec as JSON (see docs/core.md); default: softmax regression, 64 inputs, 10 classes.")
    var modelSpec: String?
    @Option(name: .customLong("evaluation-csv"), help: "Central evaluation data on the aggregator's host (CSV, label last).")
    var evaluationCSV: String?
    @Flag(help: "A homomorphic job: a key holder's files, its key in the enrolment, and the aggregator's policy set for Paillier aggregation.")
    var homomorphic = false
    @Option(help: "Output directory.") var out: String

    func validate() throws {
        guard (1...10_000).contains(agents) else { throw ValidationError("--agents must be within 1...10000") }
        guard Identifier.isValid(job), Identifier.isValid("\(agentPrefix)0") else {
            throw ValidationError("--job and --agent-prefix must be valid ids")
        }
        guard (1...65535).contains(port), maxPacketMB >= 1, maxQueuedMB >= maxPacketMB else {
            throw ValidationError("--port, --max-packet-mb or --max-queued-mb is out of range (the queue must hold one packet)")
        }
        guard !brokerHosts.isEmpty else { throw ValidationError("give --broker-host") }
        if homomorphic && agents < 2 { throw ValidationError("--homomorphic needs at least 2 agents: the key holder never decrypts a single update") }
        if let modelSpec { _ = try ModelSpec.parse(modelSpec) }
    }

    func run() throws {
        let root = URL(fileURLWithPath: out).standardizedFileURL
        guard !FileManager.default.fileExists(atPath: root.appendingPathComponent("ca/ca.key").path) else {
            throw CommandFailure("\(root.path) already holds a CA; refusing to overwrite it")
        }
        let authority = try CertificateAuthority(directory: root.appendingPathComponent("ca"), name: "FedMQ \(job) CA")
        let brokerFiles = root.appendingPathComponent("broker")
        // Every name clients may use, and the host's own, so tools on the broker host verify too.
        let names = brokerHosts + ["localhost", "127.0.0.1"].filter { !brokerHosts.contains($0) }
        try FleetFiles.install(try authority.issue(commonName: "broker", hosts: names), as: "broker", into: brokerFiles, authority: authority)
        let template = BrokerConfigTemplate(
            directory: brokerDirectory ?? brokerFiles.path, persistenceDirectory: persistenceDirectory, listenAddress: listenAddress,
            port: port, user: brokerUser, maxPacketBytes: maxPacketMB << 20, maxQueuedBytes: maxQueuedMB << 20,
            maxQueuedMessages: BrokerSizing.queuedMessages(forAgents: agents))
        let ids = (0..<agents).map { "\(agentPrefix)\($0)" }
        try template.mosquittoConf.write(to: brokerFiles.appendingPathComponent("mosquitto.conf"), atomically: true, encoding: .utf8)
        try BrokerConfigTemplate.acl(agents: ids).write(to: brokerFiles.appendingPathComponent("acl"), atomically: true, encoding: .utf8)
        try template.installScript.write(to: brokerFiles.appendingPathComponent("install.sh"), atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: brokerFiles.appendingPathComponent("install.sh").path)
        let broker: [String: Any] = ["host": brokerHost, "port": port, "ca_file": "ca.crt"]
        // Ed25519 identities: agents sign their updates, the aggregator signs the model and rounds.
        let aggregator = root.appendingPathComponent("aggregator")
        try FileManager.default.createDirectory(at: aggregator, withIntermediateDirectories: true)
        let aggregatorIdentity = SigningKey()
        try IdentityFiles.write(aggregatorIdentity, to: aggregator.appendingPathComponent("identity.key").path)
        var enrolled: [String: VerifyingKey] = [:]
        for id in ids {
            enrolled[id] = try FleetFiles.makeAgent(
                id, job: job, broker: broker, aggregatorKey: aggregatorIdentity.publicKey, in: root, authority: authority)
        }
        let keyholder = homomorphic ? try makeKeyholder(in: root, broker: broker, authority: authority) : nil
        try FleetFiles.writeEnrolment(Enrolment(aggregator: aggregatorIdentity.publicKey, agents: enrolled, keyholder: keyholder), in: root)
        try FleetFiles.install(try authority.issue(commonName: "fedmq-aggregator"), as: "tls", into: aggregator, authority: authority)
        try FleetFiles.writeJSON(
            [
                "job": job, "identity_key": "identity.key", "enrolment": "enrolment.json",
                "broker": broker.merging(["cert_file": "tls.crt", "key_file": "tls.key"]) { $1 },
                "model": try JSONSerialization.jsonObject(with: Data((try modelSpec.map(ModelSpec.parse) ?? Self.defaultModel).jsonString().utf8)),
                "policy": policy(ids),
                "state_directory": "/var/lib/fedmq-aggregator",
            ].merging(evaluationCSV.map { ["evaluation_csv": $0] } ?? [:]) { $1 }, to: aggregator.appendingPathComponent("aggregator.json"))
        try FleetFiles.install(
            try authority.issue(commonName: "fedmq-observer"), as: "fedmq-observer", into: root.appendingPathComponent("observer"),
            authority: authority)
        print("Wrote a CA, the broker config and ACL, the aggregator's config and \(agents) agent configs to \(root.path)")
        print("On the broker host, as root: \(root.path)/broker/install.sh (installs the files for the \(brokerUser) user)")
        print(
            "Watch with: mosquitto_sub -h \(brokerHost) -p \(port) --cafile \(root.path)/observer/ca.crt "
                + "--cert \(root.path)/observer/fedmq-observer.crt --key \(root.path)/observer/fedmq-observer.key -v -t 'fedmq/v1/\(job)/metrics'")
    }

    /// The aggregator's round policy for the fleet `ids`.
    func policy(_ ids: [String]) -> [String: Any] {
        var policy: [String: Any] = [
            "rounds": 30, "target_updates": agents, "min_updates": max(1, agents * 7 / 10), "round_seconds": 300,
            "extension_seconds": 120, "allowed_agents": ids,
            // What agents run each round, explicit so it is there to tune.
            "training": ["learning_rate": 0.1, "momentum": 0, "batch_size": 32, "epochs": 1],
            // Bounds one agent's pull on the model (no privacy is set): size it to the model's updates.
            "norm_bound": 10,
            // The bounds, explicit: an update as large as the broker lets through, a spool for every agent's.
            "max_update_bytes": maxPacketMB << 20, "max_spool_bytes": agents * (maxPacketMB << 20), "max_agents": agents,
        ]
        if homomorphic {
            // Each entry of a delta within ±0.5, in steps of 2^-20; the packing holds the sum of every agent's.
            policy["homomorphic"] = ["key_bits": 2048, "clip": 0.5, "scale": 1_048_576, "decrypt_seconds": 120]
            policy["norm_bound"] = nil
            policy["min_updates"] = max(2, agents * 7 / 10)
        }
        return policy
    }

    /// The key holder's certificate, identity and config in `OUT/keyholder/`; returns its public key for the enrolment.
    func makeKeyholder(in root: URL, broker: [String: Any], authority: CertificateAuthority) throws -> VerifyingKey {
        let directory = root.appendingPathComponent("keyholder")
        try FleetFiles.install(try authority.issue(commonName: "fedmq-keyholder"), as: "tls", into: directory, authority: authority)
        let identity = SigningKey()
        try IdentityFiles.write(identity, to: directory.appendingPathComponent("identity.key").path)
        try FleetFiles.writeJSON(
            [
                "job": job, "broker": broker.merging(["cert_file": "tls.crt", "key_file": "tls.key"]) { $1 }, "identity_key": "identity.key",
                "enrolment": "enrolment.json", "state_directory": "/var/lib/fedmq-keyholder", "key_bits": 2048,
                "min_updates": max(2, agents * 7 / 10),
            ], to: directory.appendingPathComponent("keyholder.json"))
        return identity.publicKey
    }

    /// The model when no --model-spec is given: softmax regression on 64 features, 10 classes (the digits data).
    static let defaultModel = ModelSpec(kind: .softmaxRegression, inputs: 64, outputs: 10)
}
