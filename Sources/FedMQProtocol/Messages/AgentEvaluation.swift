import FedMQCore

/// `round/<r>/eval/<agent>`: how the global model of round r does on one agent's held-out
/// data, and (with personalization) how a locally fine-tuned copy of it does.
public struct AgentEvaluation: Codable, Sendable, Equatable, SchemaVersioned {
    public static let schema = "fedmq.eval/1"
    public var schema: String = Self.schema
    public var job: String
    public var agent: String
    /// The round that produced the evaluated model (0: the initial model).
    public var round: Int
    /// Held-out rows evaluated.
    public var examples: Int
    public var accuracy: Double?
    public var loss: Double
    /// The same held-out rows after fine-tuning the global model locally.
    public var personalizedAccuracy: Double?
    public var personalizedLoss: Double?
    /// The same held-out rows on the agent's own student, distilled from the global model.
    public var studentAccuracy: Double?
    public var studentLoss: Double?
    /// An autoencoder's reconstruction errors on the held-out rows, counted in
    /// `ReconstructionErrors`' bins (the errors themselves stay on the device).
    public var errorHistogram: [Int]?

    enum CodingKeys: String, CodingKey {
        case schema, job, agent, round, examples, accuracy, loss
        case errorHistogram = "error_histogram"
        case personalizedAccuracy = "personalized_accuracy"
        case personalizedLoss = "personalized_loss"
        case studentAccuracy = "student_accuracy"
        case studentLoss = "student_loss"
    }

    /// One agent's evaluation of one round's global model.
    public init(
        job: String, agent: String, round: Int, examples: Int, accuracy: Double?, loss: Double, personalizedAccuracy: Double? = nil,
        personalizedLoss: Double? = nil
    ) {
        self.job = job
        self.agent = agent
        self.round = round
        self.examples = examples
        self.accuracy = accuracy
        self.loss = loss
        self.personalizedAccuracy = personalizedAccuracy
        self.personalizedLoss = personalizedLoss
    }

    /// Refuses ids, counts and metrics out of range.
    public func validate() throws(ProtocolError) {
        func invalid(_ reason: String) -> ProtocolError { .invalidMessage(schema: Self.schema, reason: reason) }
        guard Identifier.isValid(job), Identifier.isValid(agent), round >= 0 else { throw invalid("job, agent or round is invalid") }
        guard examples > 0, examples < 1 << 40 else { throw invalid("examples must be positive") }
        for value in [accuracy, personalizedAccuracy, studentAccuracy].compactMap({ $0 }) where !(0...1).contains(value) {
            throw invalid("accuracies must be within 0...1")
        }
        for value in [loss] + [personalizedLoss, studentLoss].compactMap({ $0 }) where !(value.isFinite && value >= 0) {
            throw invalid("losses must be finite and not negative")
        }
        if let errorHistogram, !ReconstructionErrors.isValid(errorHistogram, examples: examples) {
            throw invalid("error_histogram must count the \(examples) examples in \(ReconstructionErrors.binCount) bins")
        }
    }
}

/// Federated evaluation of one global model: the agents' held-out results combined, weighted
/// by their examples, with the spread across agents. Part of the next round's `metrics`.
public struct FederatedEvaluation: Codable, Sendable, Equatable {
    /// The round that produced the evaluated model.
    public var round: Int
    public var agents: Int
    public var examples: Int
    public var accuracy: Double?
    public var loss: Double
    /// Lowest and highest accuracy of a single agent, and the standard deviation across agents.
    public var accuracyMin: Double?
    public var accuracyMax: Double?
    public var accuracyStd: Double?
    /// Example-weighted accuracy after local fine-tuning, over the agents that personalize.
    public var personalizedAccuracy: Double?
    /// Example-weighted accuracy of the agents' distilled students, over the agents that have one.
    public var studentAccuracy: Double?
    /// An autoencoder's anomaly threshold: the job's quantile (`anomaly_quantile`) of the
    /// reconstruction errors the agents counted, the upper edge of its bin.
    public var anomalyThreshold: Double?

    enum CodingKeys: String, CodingKey {
        case round, agents, examples, accuracy, loss
        case anomalyThreshold = "anomaly_threshold"
        case accuracyMin = "accuracy_min"
        case accuracyMax = "accuracy_max"
        case accuracyStd = "accuracy_std"
        case personalizedAccuracy = "personalized_accuracy"
        case studentAccuracy = "student_accuracy"
    }

    /// Combines evaluations of the same model; nil when there are none. With `anomalyQuantile`,
    /// the agents' error histograms add up to the fleet's and give the anomaly threshold.
    public init?(round: Int, evaluations: [AgentEvaluation], anomalyQuantile: Double? = nil) {
        guard !evaluations.isEmpty else { return nil }
        let examples = evaluations.reduce(0) { $0 + $1.examples }
        func weighted(_ value: (AgentEvaluation) -> Double?) -> Double? {
            let rated = evaluations.compactMap { evaluation in value(evaluation).map { ($0, Double(evaluation.examples)) } }
            guard !rated.isEmpty else { return nil }
            return rated.reduce(0) { $0 + $1.0 * $1.1 } / rated.reduce(0) { $0 + $1.1 }
        }
        self.round = round
        agents = evaluations.count
        self.examples = examples
        accuracy = weighted(\.accuracy)
        loss = weighted { $0.loss } ?? 0
        let accuracies = evaluations.compactMap(\.accuracy)
        accuracyMin = accuracies.min()
        accuracyMax = accuracies.max()
        if accuracies.isEmpty {
            accuracyStd = nil
        } else {
            let mean = accuracies.reduce(0, +) / Double(accuracies.count)
            accuracyStd = (accuracies.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(accuracies.count)).squareRoot()
        }
        personalizedAccuracy = weighted(\.personalizedAccuracy)
        studentAccuracy = weighted(\.studentAccuracy)
        let histograms = evaluations.compactMap(\.errorHistogram).filter { $0.count == ReconstructionErrors.binCount }
        if let anomalyQuantile, !histograms.isEmpty {
            let fleet = histograms.reduce(into: [Int](repeating: 0, count: ReconstructionErrors.binCount)) { sum, counts in
                for bin in sum.indices { sum[bin] += counts[bin] }
            }
            anomalyThreshold = ReconstructionErrors.threshold(fleet, quantile: anomalyQuantile)
        }
    }
}
