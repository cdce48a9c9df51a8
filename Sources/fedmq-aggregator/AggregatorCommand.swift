import ArgumentParser
import FedMQAggregator
import FedMQCommandLine
import FedMQCore
import FedMQMetrics
import FedMQProtocol
import FedMQRuntime
import Foundation
import Logging
import Prometheus

@main
struct AggregatorCommand: MainThreadWaitingCommand {
    static let configuration = CommandConfiguration(
        commandName: "fedmq-aggregator",
        abstract: "Run FedMQ rounds: validate and average agents' updates, publish the global model (retained).",
        discussion: """
            Settings come from --config FILE (JSON; see docs/operations.md) and the flags below, which override
            the file. Without --config, --job, --state-dir, --target-updates and one of --model-spec or
            --initial-model are required. State (checkpoint, spool, metrics.jsonl) lives in --state-dir; a
            restart resumes the open round from it.

            Site role (hierarchical aggregation; see docs/scaling.md): a config file with a "site" object, or
            --site NAME, runs the aggregator of one site broker bridged to the central one. It follows the central
            round, folds its agents' updates into one partial per round and sends it up.
            """
    )

    @Option(help: "JSON config file.") var config: String?
    @Option(help: "Job id.") var job: String?
    @OptionGroup var broker: BrokerFlags
    @Option(name: .customLong("state-dir"), help: "State directory.") var stateDirectory: String?
    @Option(name: .customLong("model-spec"), help: "Model spec as JSON (see docs/core.md).") var modelSpec: String?
    @Option(name: .customLong("initial-model"), help: "Initial global model (safetensors with fedmq.model_spec).") var initialModel: String?
    @Option(
        name: .customLong("feature-scaling"), help: "The model spec's input scaling from a file (fedmq analytics --scaling-out, fedmq partition).")
    var featureScaling: String?
    @Option(help: "Rounds to run.") var rounds: Int?
    @Option(name: .customLong("target-updates"), help: "Close a round at this many updates.") var targetUpdates: Int?
    @Option(name: .customLong("min-updates"), help: "Quorum at the deadline.") var minUpdates: Int?
    @Option(name: .customLong("round-seconds"), help: "Round deadline in seconds.") var roundSeconds: Double?
    @Option(name: .customLong("eval-csv"), help: "Central evaluation CSV (label in the last column).") var evaluationCSV: String?
    @Option(name: .customLong("identity-key"), help: "Ed25519 private key file: signs the global model and round announcements.")
    var identityKey: String?
    @Option(help: "Enrolment file (fedmq deploy init): only updates signed by an enrolled agent count.") var enrolment: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevelName = "info"
    @Option(name: .customLong("metrics-address"), help: "Serve Prometheus metrics on HOST:PORT (GET /metrics); off by default.")
    var metricsAddress: String?
    @Option(help: "Run as the aggregator of this site (its broker bridged to the central one); needs --job and --state-dir.")
    var site: String?
    @Option(
        name: .customLong("ingest-group"),
        help: "With --site: an ingest shard on the central broker, taking its share of updates through $share/GROUP/....")
    var ingestGroup: String?
    @Flag(help: "Start the job over although the state directory holds its files but no checkpoint (they are moved aside).")
    var reset = false

    func serve() async throws {
        if site != nil || config.map(Self.namesSite) == true { return try await runSite() }
        if ingestGroup != nil { throw ValidationError("--ingest-group runs an ingest shard: give --site NAME too") }
        var settings = try baseConfig()
        if let job { settings.job = job }
        broker.apply(to: &settings.broker)
        if let stateDirectory { settings.stateDirectory = stateDirectory }
        if let rounds { settings.policy.rounds = rounds }
        if let targetUpdates { settings.policy.targetUpdates = targetUpdates }
        if let minUpdates { settings.policy.minUpdates = minUpdates }
        if let roundSeconds { settings.policy.roundSeconds = roundSeconds }
        if let evaluationCSV { settings.evaluationCSV = evaluationCSV }
        if let identityKey { settings.identityKey = identityKey }
        if let enrolment { settings.enrolment = enrolment }
        settings.resetState = reset
        if let initialModel {
            settings.initialModel = initialModel
            settings.model = nil
        }
        if let modelSpec {
            settings.model = try ModelSpec.parse(modelSpec)
            settings.initialModel = nil
        }
        if let featureScaling {
            guard settings.model != nil else { throw ValidationError("--feature-scaling sets the scaling of a model spec (--model-spec or 'model')") }
            settings.model?.scaling = try loadJSONFile(FeatureScaling.self, from: featureScaling)
        }
        if let metricsAddress { settings.metricsAddress = metricsAddress }
        try settings.validate()
        bootstrapLogging(level: try logLevel(named: logLevelName))
        let logger = Logger(label: "fedmq.aggregator")
        // Prometheus metrics only when asked for: the registry the runtime counts into, served beside it.
        var registry: PrometheusCollectorRegistry?
        var endpoints: [MetricsEndpoint] = []
        if let address = settings.metricsAddress.flatMap(HostPort.init) {
            let served = PrometheusCollectorRegistry()
            registry = served
            endpoints = [MetricsEndpoint(registry: served, host: address.host, port: address.port, logger: logger)]
        }
        try await runUntilShutdown(
            AggregatorRuntime(config: settings, logger: logger, metrics: registry, onStarted: StartupPages.releaseOnStart(logger: logger)),
            alongside: endpoints, logger: logger)
    }

    /// Whether the config file at `path` is a site aggregator's (it has a `site` object).
    /// An unreadable file is not: loading it as the central aggregator's config says what is wrong.
    static func namesSite(_ path: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        return ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any])?["site"] != nil
    }

    private func runSite() async throws {
        var settings: SiteAggregatorConfig
        if let config {
            settings = try loadJSONConfig(SiteAggregatorConfig.self, from: config)
            let directory = PathText.directory(of: config)
            settings.broker = settings.broker.resolvingPaths(relativeTo: directory)
            settings.identityKey = resolvePath(settings.identityKey, relativeTo: directory)
            settings.enrolment = resolvePath(settings.enrolment, relativeTo: directory)
        } else {
            guard let job, let stateDirectory else { throw ValidationError("without --config, --site needs --job and --state-dir") }
            settings = SiteAggregatorConfig(job: job, site: site ?? "", stateDirectory: stateDirectory)
        }
        let centralOnly: [(String, Bool)] = [
            ("--model-spec", modelSpec != nil), ("--initial-model", initialModel != nil), ("--feature-scaling", featureScaling != nil),
            ("--rounds", rounds != nil), ("--min-updates", minUpdates != nil), ("--round-seconds", roundSeconds != nil),
            ("--eval-csv", evaluationCSV != nil), ("--metrics-address", metricsAddress != nil), ("--reset", reset),
        ]
        if let flag = centralOnly.first(where: \.1) { throw ValidationError("\(flag.0) is for the central aggregator, not a site") }
        if let job { settings.job = job }
        if let site { settings.site.name = site }
        if let ingestGroup { settings.site.ingestGroup = ingestGroup }
        broker.apply(to: &settings.broker)
        if let stateDirectory { settings.stateDirectory = stateDirectory }
        if let targetUpdates { settings.site.targetUpdates = targetUpdates }
        if let identityKey { settings.identityKey = identityKey }
        if let enrolment { settings.enrolment = enrolment }
        try settings.validate()
        bootstrapLogging(level: try logLevel(named: logLevelName))
        let logger = Logger(label: "fedmq.site")
        try await runUntilShutdown(
            SiteAggregatorRuntime(config: settings, logger: logger, onStarted: StartupPages.releaseOnStart(logger: logger)), alongside: [],
            logger: logger)
    }

    private func baseConfig() throws -> AggregatorConfig {
        if let config {
            var loaded = try loadJSONConfig(AggregatorConfig.self, from: config)
            let directory = PathText.directory(of: config)
            loaded.broker = loaded.broker.resolvingPaths(relativeTo: directory)
            loaded.identityKey = resolvePath(loaded.identityKey, relativeTo: directory)
            loaded.enrolment = resolvePath(loaded.enrolment, relativeTo: directory)
            loaded.evaluationCommand = loaded.evaluationCommand?.resolved(relativeTo: directory)
            return loaded
        }
        guard let job, let stateDirectory, let targetUpdates else {
            throw ValidationError("without --config, give --job, --state-dir and --target-updates")
        }
        return AggregatorConfig(
            job: job, policy: RoundPolicy(targetUpdates: targetUpdates, minUpdates: minUpdates ?? targetUpdates),
            stateDirectory: stateDirectory)
    }
}
