import FedMQAgent
import FedMQAggregator
import FedMQCore
import FedMQProtocol
import FedMQRuntime
import FedMQTransport
import Foundation
import Testing

/// Keys and settings on a device's disk, as someone with access to it would try them.
@Suite("Key files and broker settings")
struct RuntimeFilesTests {
    @Test("a missing data file is an I/O error naming it")
    func missingDataFile() {
        let error = #expect(throws: CoreError.self) { try CSVReader.read(file: "/nonexistent/data.csv") }
        #expect(error?.description.hasPrefix("/nonexistent/data.csv: cannot read") == true)
    }

    func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test("an identity key is 0600 from its creation, and a link planted at its temporary name is not written through")
    func keyFiles() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = directory.appendingPathComponent("identity.key").path
        // Someone with write access to the folder plants a link where the temporary file will be.
        let victim = directory.appendingPathComponent("victim").path
        try Data("untouched".utf8).write(to: URL(fileURLWithPath: victim))
        try FileManager.default.createSymbolicLink(atPath: key + ".tmp-\(getpid())", withDestinationPath: victim)
        let identity = SigningKey()
        try IdentityFiles.write(identity, to: key)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "untouched")
        var info = stat()
        #expect(lstat(key, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(info.st_mode & S_IFMT == S_IFREG)
        #expect(try IdentityFiles.signingKey(at: key).publicKey == identity.publicKey)
    }

    @Test("a password over plain-text MQTT is refused unless allow_insecure says so")
    func insecurePassword() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let passwordFile = directory.appendingPathComponent("password").path
        try Data("secret\n".utf8).write(to: URL(fileURLWithPath: passwordFile))
        let will = LastWill(topic: "t", payload: [], qos: .atLeastOnce, retain: false)
        var settings = BrokerSettings(host: "broker.example", port: 1883)
        settings.username = "agent-1"
        settings.passwordFile = passwordFile
        #expect(throws: RuntimeError.self) { try settings.connectionOptions(clientID: "agent-1", will: will) }
        settings.allowInsecure = true
        #expect(try settings.connectionOptions(clientID: "agent-1", will: will).credentials?.password == "secret")
        let decoded = try decodeConfig(
            AgentConfig.self,
            from: Data(#"{"agent": "a", "job": "j", "data_csv": "d", "state_directory": "s", "broker": {"host": "h", "allow_insecure": true}}"#.utf8),
            file: "agent.json")
        #expect(decoded.broker.allowInsecure && decoded.broker.host == "h" && decoded.broker.port == 1883)
    }

    @Test("a misspelt key anywhere in a config file is refused with its path, never left at its default")
    func unknownKeys() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func write(_ text: String, _ name: String) throws -> String {
            let path = directory.appendingPathComponent(name).path
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }
        let agent = try write(
            #"{"agent": "a1", "job": "j", "data_csv": "d.csv", "state_directory": "s", "privacy_policy": {"min_noise_multipler": 1.0}}"#, "agent.json"
        )
        let agentError = try #require(throws: RuntimeError.self) { try loadJSONConfig(AgentConfig.self, from: agent) }
        #expect("\(agentError)".contains("\(agent): unknown key 'privacy_policy.min_noise_multipler'"), "\(agentError)")
        let aggregator = try write(
            #"{"job": "j", "state_directory": "s", "evaluaton_csv": "t.csv", "policy": {"target_updates": 2, "round_secs": 5, "training": {"learning_rte": 0.1}}}"#,
            "aggregator.json")
        let aggregatorError = try #require(throws: RuntimeError.self) { try loadJSONConfig(AggregatorConfig.self, from: aggregator) }
        #expect(
            "\(aggregatorError)".contains("unknown keys 'evaluaton_csv', 'policy.round_secs', 'policy.training.learning_rte'"), "\(aggregatorError)")
        // Known keys, and null for an optional one, load.
        let good = try write(
            #"{"agent": "a1", "job": "j", "data_csv": "d.csv", "state_directory": "s", "top_k_fraction": null, "privacy_policy": {"min_noise_multiplier": 1.0}}"#,
            "good.json")
        #expect(try loadJSONConfig(AgentConfig.self, from: good).privacyPolicy.minNoiseMultiplier == 1)
    }

    @Test("training_status_after_seconds loads from a file and is refused out of 0...3600, by name")
    func trainingStatusDelay() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for (value, accepted) in [("0", true), ("2.5", true), ("-1", false), ("3601", false)] {
            let path = directory.appendingPathComponent("agent-\(value).json").path
            let text = #"{"agent": "a1", "job": "j", "data_csv": "d.csv", "state_directory": "s", "training_status_after_seconds": "# + value + "}"
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            let config = try loadJSONConfig(AgentConfig.self, from: path)
            #expect(config.trainingStatusAfterSeconds == Double(value))
            if accepted {
                try config.validate()
            } else {
                let error = try #require(throws: RuntimeError.self) { try config.validate() }
                #expect("\(error)".contains("training_status_after_seconds must be within 0 and 3600, not \(Double(value) ?? 0)"), "\(error)")
            }
        }
    }

    @Test("the buffered kernel generator refills past its 4 KiB and its words look uniform (chi-square over 16 bins)")
    func kernelRandom() {
        var random = KernelRandom()
        var other = KernelRandom()
        let words = (0..<40_000).map { _ in random.next() }
        #expect(Set(words).count == words.count)
        #expect(words.prefix(8) != (0..<8).map { _ in other.next() }[...])
        var bins = [Int](repeating: 0, count: 16)
        for word in words { bins[Int(word >> 60)] += 1 }
        let expected = Double(words.count) / 16
        let chiSquare = bins.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
        // 15 degrees of freedom: a real generator exceeds 80 with probability below 1e-10, a
        // broken one (a stuck or short buffer) by far.
        #expect(chiSquare < 80, "chi-square \(chiSquare)")
    }
}
