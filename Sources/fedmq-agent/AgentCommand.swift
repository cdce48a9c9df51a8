import ArgumentParser
import FedMQAgent
import FedMQCommandLine
import FedMQCore
import FedMQProtocol
import FedMQRuntime
import FoundationEssentials
import Logging

@main
struct AgentCommand: MainThreadWaitingCommand {
    static let configuration = CommandConfiguration(
        commandName: "fedmq-agent",
        abstract: "Train on local data when a FedMQ round opens and publish the model update.",
        discussion: """
            Settings come from --config FILE (JSON; see docs/operations.md) and the flags below, which override
            the file. Without --config, --agent, --job, --data and --state-dir are required. The agent takes the
            model from the broker's retained global model, reconnects forever, and never publishes twice for a
            round (its record lives in --state-dir).
            """
    )

    @Option(help: "JSON config file.") var config: String?
    @Option(help: "Agent id (also the MQTT client id).") var agent: String?
    @Option(help: "Job id.") var job: String?
    @OptionGroup var broker: BrokerFlags
    @Option(help: "Local training data (CSV).") var data: String?
    @Option(help: "Label column name (implies a header line); default: the last column.") var label: String?
    @Option(help: "An empty or NaN cell: error (default), drop_row or fill_mean.") var missing: String?
    @Option(help: "The feature columns to use, by header name, comma-separated (the others are dropped).") var columns: String?
    @Option(name: .customLong("state-dir"), help: "State directory.") var stateDirectory: String?
    @Option(help: "Seed for local shuffles.") var seed: UInt64?
    @Option(name: .customLong("budget-epsilon"), help: "Privacy budget: refuse rounds that would spend more epsilon.") var budgetEpsilon: Double?
    @Option(name: .customLong("budget-delta"), help: "The delta of the privacy budget.") var budgetDelta = 1e-5
    @Option(name: .customLong("identity-key"), help: "This agent's Ed25519 private key file: signs every update.") var identityKey: String?
    @Option(name: .customLong("aggregator-key"), help: "The aggregator's public key (base64): use only a model and rounds it signed.")
    var aggregatorKey: String?
    @Option(help: "The fleet's enrolment file (public keys): secure-aggregation neighbours must be enrolled.") var enrolment: String?
    @Option(help: "Share of local rows held out to evaluate global models on (federated evaluation).") var holdout: Double?
    @Option(name: .customLong("personalize-epochs"), help: "Fine-tune a copy of the global model for this many local epochs before evaluating.")
    var personalizeEpochs: Int?
    @Option(
        name: .customLong("top-k"),
        help: "Send only this share of each tensor's largest entries, holding the rest back for later rounds (error feedback).")
    var topK: Double?
    @Option(name: .customLong("min-update-interval"), help: "Least seconds between two updates of this agent.")
    var minUpdateInterval: Double?
    @Option(name: .customLong("max-updates-per-hour"), help: "Most updates this agent publishes in any hour.") var maxUpdatesPerHour: Int?
    @Option(name: .customLong("max-updates-per-day"), help: "Most updates this agent publishes in any 24 hours.") var maxUpdatesPerDay: Int?
    @Option(
        name: .customLong("training-status-after"),
        help: "Publish a round's training status only once training has lasted this many seconds (0: as it starts; default 1).")
    var trainingStatusAfter: Double?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevelName = "info"

    func serve() async throws {
        var settings = try baseConfig()
        if let agent { settings.agent = agent }
        if let job { settings.job = job }
        broker.apply(to: &settings.broker)
        if let data { settings.dataCSV = data }
        if let label {
            settings.dataLabel = label
            settings.dataHeader = true
        }
        if let columns { settings.dataColumns = columns.split(separator: ",").map { $0.trimmingSpaces() } }
        if let missing {
            guard let policy = MissingValuePolicy(rawValue: missing) else { throw ValidationError("--missing must be error, drop_row or fill_mean") }
            settings.dataMissing = policy
        }
        if let stateDirectory { settings.stateDirectory = stateDirectory }
        if let seed { settings.seed = seed }
        if let holdout { settings.holdoutFraction = holdout }
        if let personalizeEpochs { settings.personalizationEpochs = personalizeEpochs }
        if let topK { settings.topKFraction = topK }
        if let minUpdateInterval { settings.minUpdateIntervalSeconds = minUpdateInterval }
        if let trainingStatusAfter { settings.trainingStatusAfterSeconds = trainingStatusAfter }
        if let maxUpdatesPerHour { settings.maxUpdatesPerHour = maxUpdatesPerHour }
        if let maxUpdatesPerDay { settings.maxUpdatesPerDay = maxUpdatesPerDay }
        if let identityKey { settings.identityKey = identityKey }
        if let aggregatorKey { settings.aggregatorKey = aggregatorKey }
        if let enrolment { settings.enrolment = enrolment }
        if let budgetEpsilon { settings.privacyBudget = PrivacyBudget(epsilon: budgetEpsilon, delta: budgetDelta) }
        bootstrapLogging(level: try logLevel(named: logLevelName))
        let logger = Logger(label: "fedmq.agent")
        try await runUntilShutdown(
            AgentRuntime(config: settings, logger: logger, onStarted: StartupPages.releaseOnStart(logger: logger)), logger: logger)
    }

    private func baseConfig() throws -> AgentConfig {
        if let config {
            var loaded = try loadJSONConfig(AgentConfig.self, from: config)
            let directory = PathText.directory(of: config)
            loaded.broker = loaded.broker.resolvingPaths(relativeTo: directory)
            loaded.identityKey = resolvePath(loaded.identityKey, relativeTo: directory)
            loaded.enrolment = resolvePath(loaded.enrolment, relativeTo: directory)
            loaded.trainer = loaded.trainer?.resolved(relativeTo: directory)
            return loaded
        }
        guard let agent, let job, let data, let stateDirectory else {
            throw ValidationError("without --config, give --agent, --job, --data and --state-dir")
        }
        return AgentConfig(agent: agent, job: job, dataCSV: data, stateDirectory: stateDirectory)
    }
}
