import FedMQCommandLine
import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import Foundation

/// The files of a fleet made by `fedmq deploy init` and grown by `fedmq deploy add-agent`.
enum FleetFiles {
    /// Issues agent `id`'s certificate and identity into `OUT/agents/<id>/` with its agent.json;
    /// returns the identity's public key for the enrolment.
    static func makeAgent(
        _ id: String, job: String, broker: [String: Any], aggregatorKey: VerifyingKey, in root: URL, authority: CertificateAuthority
    ) throws -> VerifyingKey {
        let directory = root.appendingPathComponent("agents/\(id)")
        try install(try authority.issue(commonName: id), as: "tls", into: directory, authority: authority)
        let identity = SigningKey()
        try IdentityFiles.write(identity, to: directory.appendingPathComponent("identity.key").path)
        try writeJSON(
            [
                "agent": id, "job": job, "broker": broker.merging(["cert_file": "tls.crt", "key_file": "tls.key"]) { $1 },
                "data_csv": "/var/lib/fedmq-agent/data.csv", "state_directory": "/var/lib/fedmq-agent",
                "identity_key": "identity.key", "aggregator_key": aggregatorKey.base64, "enrolment": "enrolment.json",
            ], to: directory.appendingPathComponent("agent.json"))
        return identity.publicKey
    }

    /// Writes the enrolment (public keys only) beside the aggregator's config, every agent's and
    /// the key holder's: the aggregator checks updates against it, agents check secure-aggregation
    /// neighbours and the key holder's key, the key holder checks requests and updates' signatures.
    static func writeEnrolment(_ enrolment: Enrolment, in root: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let bytes = try encoder.encode(enrolment)
        let keyholder = enrolment.keyholder == nil ? [] : [root.appendingPathComponent("keyholder")]
        for directory in [root.appendingPathComponent("aggregator")] + keyholder
            + enrolment.agents.keys.map({ root.appendingPathComponent("agents/\($0)") })
        {
            try bytes.write(to: directory.appendingPathComponent("enrolment.json"))
        }
    }

    /// Moves an issued certificate and key into `directory` beside a copy of the CA certificate.
    static func install(_ issued: (certificate: String, key: String), as name: String, into directory: URL, authority: CertificateAuthority) throws {
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

    static func writeJSON(_ object: [String: Any], to url: URL) throws {
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]).write(to: url)
    }

    static func readJSON(_ url: URL) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: url.path),
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { throw CommandFailure("\(url.path): not a JSON object written by fedmq deploy init") }
        return object
    }
}
