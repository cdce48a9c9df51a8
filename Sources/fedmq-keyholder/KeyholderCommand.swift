import ArgumentParser
import FedMQCommandLine
import FedMQKeyholder
import FedMQRuntime
import Foundation
import Logging

@main
struct KeyholderCommand: MainThreadWaitingCommand {
    static let configuration = CommandConfiguration(
        commandName: "fedmq-keyholder",
        abstract: "Hold a homomorphic job's Paillier key: publish the public key, decrypt only each round's signed aggregate.",
        discussion: """
            Settings come from --config FILE (JSON; see docs/security.md) and the flags below, which override
            the file. The key is generated at the first start and kept in --state-dir (readable by its owner
            only); run the key holder apart from the aggregator: the two must not collude.
            """
    )

    @Option(help: "JSON config file.") var config: String?
    @Option(help: "Job id.") var job: String?
    @OptionGroup var broker: BrokerFlags
    @Option(name: .customLong("state-dir"), help: "State directory (the Paillier key, the answered rounds).") var stateDirectory: String?
    @Option(name: .customLong("identity-key"), help: "Ed25519 private key file: signs the public key and the sums.") var identityKey: String?
    @Option(help: "Enrolment file: the aggregator's and the agents' keys, checked on every request.") var enrolment: String?
    @Option(name: .customLong("min-updates"), help: "Decrypt only aggregates of at least this many agents' updates.") var minUpdates: Int?
    @Option(name: .customLong("key-bits"), help: "Size of a newly generated key: 2048 or 3072.") var keyBits: Int?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevelName = "info"

    func serve() async throws {
        var settings = KeyholderConfig()
        if let config {
            settings = try loadJSONConfig(KeyholderConfig.self, from: config)
            let directory = PathText.directory(of: config)
            settings.broker = settings.broker.resolvingPaths(relativeTo: directory)
            settings.identityKey = resolvePath(settings.identityKey, relativeTo: directory) ?? ""
            settings.enrolment = resolvePath(settings.enrolment, relativeTo: directory) ?? ""
        }
        if let job { settings.job = job }
        broker.apply(to: &settings.broker)
        if let stateDirectory { settings.stateDirectory = stateDirectory }
        if let identityKey { settings.identityKey = identityKey }
        if let enrolment { settings.enrolment = enrolment }
        if let minUpdates { settings.minUpdates = minUpdates }
        if let keyBits { settings.keyBits = keyBits }
        try settings.validate()
        bootstrapLogging(level: try logLevel(named: logLevelName))
        let logger = Logger(label: "fedmq.keyholder")
        try await runUntilShutdown(
            KeyholderRuntime(config: settings, logger: logger, onStarted: StartupPages.releaseOnStart(logger: logger)), logger: logger)
    }
}
