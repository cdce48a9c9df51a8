import ArgumentParser
import FedMQAggregator
import FedMQCommandLine
import FedMQCore
import FedMQProtocol
import FedMQRuntime
import Foundation
import Logging

/// `fedmq analytics`: asks the agents of a job for statistics of their records, as a one-round
/// analytics job run by the aggregator's own runtime, and prints the answers with their privacy.
struct AnalyticsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analytics",
        abstract: "Ask a fleet for counts, sums, means, variances, histograms or quantiles of its records, with differential privacy.",
        discussion: """
            Example: fedmq analytics --job sensors-stats --agents 10 --state-dir stats --epsilon 1 \\
                       --query count --query mean:temperature:-10:40 --query quantiles:humidity:0:100:0.5,0.9
            Queries: count, sum|mean|variance:COLUMN:LOW:HIGH, histogram:COLUMN:LOW:HIGH[:BINS],
            quantiles:COLUMN:LOW:HIGH:L1,L2,...[:BINS]. Values are clamped to [LOW, HIGH]. The agents of the job
            (fedmq-agent with the same --job) answer from their data_csv, by the header's column names.
            --standardize COLUMN:LOW:HIGH (one per feature, in order) with --scaling-out FILE writes the
            fleet-wide feature scaling for a training job's model spec.
            --print-config prints the aggregator config that runs the same job (see docs/analytics.md).
            """
    )

    @Option(help: "Job id the agents serve.") var job: String
    @Option(help: "A query (repeat for several).") var query: [String] = []
    @Option(help: "COLUMN:LOW:HIGH: a feature to standardize (its variance query, which gives the mean too); repeat in feature order.")
    var standardize: [String] = []
    @Option(name: .customLong("scaling-out"), help: "Write the features' fleet-wide scaling (a model spec's 'scaling') to this file.")
    var scalingOut: String?
    @Option(help: "Answer with this many agents (the round closes when they have answered).") var agents: Int
    @Option(name: .customLong("min-agents"), help: "At the deadline, answer with at least this many (default: --agents).")
    var minAgents: Int?
    @Option(name: .customLong("round-seconds"), help: "Seconds the agents have to answer.") var roundSeconds = 300.0
    @Option(name: .customLong("max-records"), help: "The most records one agent's answer weighs.") var maxRecords = 1000
    @Option(help: "Whom the privacy protects: client (all of an agent's records) or record (one record).") var level = "client"
    @Option(help: "Privacy target: noise for one release at this epsilon (at --delta).") var epsilon: Double?
    @Option(name: .customLong("noise-multiplier"), help: "Or the noise multiplier itself.") var noiseMultiplier: Double?
    @Option(help: "Where the noise is added: central, local or distributed (default: central; distributed with --secure).")
    var privacy: String?
    @Option(help: "The delta of every reported epsilon.") var delta = 1e-5
    @Flag(help: "Secure aggregation: only the sum of the agents' answers is ever decoded (needs --identity-key and --enrolment).")
    var secure = false
    @Option(name: .customLong("state-dir"), help: "State directory of this analytics job (spool, metrics.jsonl).") var stateDirectory: String
    @Option(name: .customLong("identity-key"), help: "The aggregator's Ed25519 key: signs the query round.") var identityKey: String?
    @Option(help: "Enrolment file: only enrolled agents' signed answers count.") var enrolment: String?
    @OptionGroup var broker: BrokerFlags
    @Flag(help: "Print the answers as JSON (the round's fedmq.metrics/1).") var json = false
    @Flag(name: .customLong("print-config"), help: "Print the aggregator config of this job and exit.") var printConfig = false

    func run() async throws {
        let config = try aggregatorConfig()
        if printConfig {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(config), as: UTF8.self))
            return
        }
        try config.validate()
        var logger = Logger(label: "fedmq.analytics")
        logger.logLevel = .notice
        if config.policy.privacy == nil {
            logger.warning("no --epsilon or --noise-multiplier: the answers carry no differential privacy")
        }
        try await runUntilShutdown(AggregatorRuntime(config: config, logger: logger), logger: logger)
        guard let last = try config.lastRoundMetrics(), last.round == config.policy.rounds else {
            throw CommandFailure("stopped before the round closed: run the same command again to resume it")
        }
        guard let answers = last.analytics else { throw CommandFailure("round \(last.round) gave no answers: \(last.failure ?? "unknown")") }
        if json {
            print(String(decoding: ProtocolJSON.encode(last), as: UTF8.self))
            return
        }
        if let scalingOut, let analytics = config.policy.analytics {
            let scaling = try FeatureScaling.fleetWide(analytics, answers: answers)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try encoder.encode(scaling).write(to: URL(fileURLWithPath: scalingOut))
            print("feature scaling of \(scaling.mean.count) features written to \(scalingOut)")
        }
        for answer in answers { print(answer) }
        if let epsilon = last.epsilon, let delta = last.delta {
            print(String(format: "privacy: epsilon %.4g at delta %g", epsilon, delta) + (last.threatModel.map { ", against \($0)" } ?? ""))
        } else {
            print("privacy: none")
        }
        if let failure = last.failure { throw CommandFailure("the round failed: \(failure)") }
    }

    /// The one-round analytics job these flags describe.
    func aggregatorConfig() throws -> AggregatorConfig {
        guard !query.isEmpty || !standardize.isEmpty else { throw ValidationError("give at least one --query or --standardize") }
        guard let level = AnalyticsSettings.Level(rawValue: level) else { throw ValidationError("--level must be client or record") }
        if scalingOut != nil && standardize.isEmpty { throw ValidationError("--scaling-out writes the --standardize features' scaling: give them") }
        let queries = try standardize.map { try AnalyticsQuery.parse("variance:" + $0) } + query.map { try AnalyticsQuery.parse($0) }
        var policy = RoundPolicy(rounds: 1, targetUpdates: agents, minUpdates: minAgents, roundSeconds: roundSeconds)
        policy.analytics = AnalyticsSettings(queries: queries, maxRecords: maxRecords, level: level)
        if let multiplier = try noise() {
            let modeName = privacy ?? (secure ? "distributed" : "central")
            guard let mode = ClientPrivacy.Mode(rawValue: modeName) else { throw ValidationError("--privacy must be central, local or distributed") }
            policy.privacy = ClientPrivacy(
                mode: mode, clipNorm: 0, noiseMultiplier: multiplier, expectedCohort: agents, delta: delta, accountant: .pld)
        } else if privacy != nil {
            throw ValidationError("--privacy needs --epsilon or --noise-multiplier")
        }
        if secure {
            policy.secureAggregation = SecureAggregationSettings(quantization: .analytics(cohort: agents))
        }
        var config = AggregatorConfig(job: job, policy: policy, stateDirectory: stateDirectory)
        // Each run asks one round: the next one of a job this state directory finished, or the
        // round a stopped run left open.
        if let saved = try config.checkpointedRound() { config.policy.rounds = saved.finished ? saved.round + 1 : saved.round }
        broker.apply(to: &config.broker)
        config.identityKey = identityKey
        config.enrolment = enrolment
        return config
    }

    /// The noise multiplier: given, or the one whose single release has `--epsilon`.
    func noise() throws -> Double? {
        switch (epsilon, noiseMultiplier) {
        case (nil, nil): return nil
        case (let epsilon?, nil): return try AnalyticGaussian.sigma(epsilon: epsilon, delta: delta)
        case (nil, let multiplier?): return multiplier
        default: throw ValidationError("give --epsilon or --noise-multiplier, not both")
        }
    }
}
