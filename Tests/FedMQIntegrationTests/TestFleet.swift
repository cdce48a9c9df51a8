import FedMQProtocol
import FedMQRuntime
import Foundation

/// Identity keys for the aggregator, `agents` agents and (for homomorphic jobs) a key holder,
/// and the enrolment file naming them: what `fedmq deploy init` makes, for process tests.
struct TestFleet {
    let aggregatorKey: String
    let aggregatorPublic: VerifyingKey
    let keyholderKey: String?
    let enrolment: String
    let directory: URL

    init(directory: URL, agents: Int, keyholder: Bool = false) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        func identity(_ name: String) throws -> (path: String, key: VerifyingKey) {
            let key = SigningKey()
            let path = directory.appendingPathComponent("\(name).key").path
            try IdentityFiles.write(key, to: path)
            return (path, key.publicKey)
        }
        let aggregator = try identity("aggregator")
        (aggregatorKey, aggregatorPublic) = aggregator
        let holder = keyholder ? try identity("keyholder") : nil
        keyholderKey = holder?.path
        var enrolled: [String: VerifyingKey] = [:]
        for index in 0..<agents { enrolled["a\(index)"] = try identity("a\(index)").key }
        enrolment = directory.appendingPathComponent("enrolment.json").path
        try JSONEncoder().encode(Enrolment(aggregator: aggregator.key, agents: enrolled, keyholder: holder?.key))
            .write(to: URL(fileURLWithPath: enrolment))
    }

    func agentArguments(_ index: Int) -> [String] {
        [
            "--identity-key", directory.appendingPathComponent("a\(index).key").path, "--aggregator-key", aggregatorPublic.base64,
            "--enrolment", enrolment,
        ]
    }
}
