import FedMQCore
import FedMQProtocol
import FedMQRuntime

/// Everything `fedmq-agent` needs; read from `--config FILE` (JSON, snake_case keys), with
/// command-line flags overriding single fields. Every field but the required ones has its
/// default here: a field is its declaration and its key in `CodingKeys` (see `ConfigFile`).
public struct AgentConfig: ConfigFile, Sendable {
    /// Also the MQTT client id, so broker ACL patterns with %c match it.
    public var agent = ""
    public var job = ""
    public var broker = BrokerSettings()
    /// Local training data (never leaves the device): CSV with the label in the last column
    /// or in the column named `data_label`. May be empty with a `trainer` that reads its own.
    public var dataCSV = ""
    public var dataLabel: String?
    /// Whether the CSV starts with a header line; nil: exactly when `data_label` names a column.
    public var dataHeader: Bool?
    /// The feature columns to use, by header name and in the model's order; the others are
    /// dropped. Implies a header line. Nil: every column but the label.
    public var dataColumns: [String]?
    /// What an empty or `NaN` cell does (sensors drop out): `error` (the default: the file is
    /// refused, naming the line and column), `drop_row`, or `fill_mean` (the column's local mean).
    public var dataMissing = MissingValuePolicy.error
    /// The record of served rounds lives here.
    public var stateDirectory = ""
    /// Seeds the local shuffles: round r shuffles with SplitMix64(1000 * r + seed), the
    /// shared benchmark task's rule.
    public var seed: UInt64 = 0
    /// The most privacy this agent may spend on the job; it refuses rounds beyond it.
    public var privacyBudget: PrivacyBudget?
    /// The least privacy this agent accepts in a round, whatever the announcement says.
    public var privacyPolicy = AgentPrivacyPolicy()
    /// This agent's Ed25519 private key file (made at enrolment): it signs every update.
    public var identityKey: String?
    /// The aggregator's public key (base64): with it, the agent uses only a global model and
    /// round announcements the aggregator signed.
    public var aggregatorKey: String?
    /// The fleet's enrolment file (public keys only): secure-aggregation rounds need it, so that
    /// neighbours are checked against their enrolled identity keys.
    public var enrolment: String?
    /// Share of the local rows kept out of training to evaluate global models on (federated
    /// evaluation, when the job asks for it); 0 keeps none.
    public var holdoutFraction = 0.0
    /// Personalization: before evaluating, fine-tune a copy of the global model for this many
    /// local epochs and report both; 0 evaluates the global model only.
    public var personalizationEpochs = 0
    /// Client-side distillation: a student model of this agent's own, trained from each
    /// evaluated global model (the teacher) and evaluated beside it; it never leaves the device.
    public var distillation: DistillationConfig?
    /// Top-k sparsification: send only this share of each tensor's largest entries and hold
    /// the rest back for later rounds (error feedback); nil sends whole updates.
    public var topKFraction: Double?

    /// The owner's pacing: least seconds between two updates, and most updates per hour and
    /// per day (asynchronous jobs would otherwise train after every new version).
    public var minUpdateIntervalSeconds = 0.0
    public var maxUpdatesPerHour: Int?
    public var maxUpdatesPerDay: Int?
    /// An external program that trains each round instead of FedMQ's own trainer.
    public var trainer: ExternalCommand?
    /// A round's `training` status is published only once training has lasted this long (0: as
    /// it starts). A round that trains faster costs the broker two messages (the update and the
    /// `idle` status naming the round) instead of three; a long one still shows as `training`.
    public var trainingStatusAfterSeconds = 1.0

    public static let requiredKeys = ["agent", "job", "state_directory"]

    enum CodingKeys: String, CodingKey {
        case agent, job, broker, seed, enrolment, trainer, distillation
        case dataCSV = "data_csv"
        case dataLabel = "data_label"
        case dataHeader = "data_header"
        case dataMissing = "data_missing"
        case dataColumns = "data_columns"
        case stateDirectory = "state_directory"
        case privacyBudget = "privacy_budget"
        case privacyPolicy = "privacy_policy"
        case identityKey = "identity_key"
        case aggregatorKey = "aggregator_key"
        case holdoutFraction = "holdout_fraction"
        case personalizationEpochs = "personalization_epochs"
        case topKFraction = "top_k_fraction"
        case minUpdateIntervalSeconds = "min_update_interval_seconds"
        case maxUpdatesPerHour = "max_updates_per_hour"
        case maxUpdatesPerDay = "max_updates_per_day"
        case trainingStatusAfterSeconds = "training_status_after_seconds"
    }

    /// Every field at its default (the required ones empty): what a config file is laid over.
    public init() {}

    /// The required fields; the others keep their defaults until set.
    public init(agent: String, job: String, dataCSV: String, stateDirectory: String) {
        self.agent = agent
        self.job = job
        self.dataCSV = dataCSV
        self.stateDirectory = stateDirectory
    }

    /// The CSV options the local data are read with.
    public var dataOptions: CSVOptions {
        CSVOptions(
            hasHeader: dataHeader ?? (dataLabel != nil || dataColumns != nil), label: dataLabel.map { .name($0) } ?? .last, missing: dataMissing)
    }

    /// The owner's pacing limits, with the publish times of the last day.
    public func pacing(recent: [Double] = []) -> AgentPacing {
        AgentPacing(minIntervalSeconds: minUpdateIntervalSeconds, maxPerHour: maxUpdatesPerHour, maxPerDay: maxUpdatesPerDay, recent: recent)
    }

    /// Refuses settings the agent cannot run with, naming the field.
    public func validate() throws(RuntimeError) {
        do {
            try Identifier.validate(agent, kind: "agent")
            try Identifier.validate(job, kind: "job")
            try privacyPolicy.validate()
            try pacing().validate()
        } catch {
            throw .configuration("\(error)")
        }
        if stateDirectory.isEmpty { throw .configuration("state_directory is empty") }
        if dataCSV.isEmpty && trainer == nil {
            throw .configuration("data_csv is empty: give the local data, or a trainer command that reads its own")
        }
        if let dataColumns, dataColumns.isEmpty || Set(dataColumns).count != dataColumns.count || dataHeader == false {
            throw .configuration("data_columns must name distinct columns of a CSV with a header line")
        }
        if dataCSV.isEmpty && holdoutFraction > 0 { throw .configuration("holdout_fraction needs data_csv: held-out rows come from it") }
        try trainer?.validate(key: "trainer")
        if !(0..<1).contains(holdoutFraction) { throw .configuration("holdout_fraction must be within 0 and 1 (0 keeps no held-out data)") }
        if !(0...1000).contains(personalizationEpochs) { throw .configuration("personalization_epochs must be within 0...1000") }
        if let distillation {
            guard holdoutFraction > 0 else {
                throw .configuration("distillation reports the student in federated evaluation: it needs holdout_fraction > 0")
            }
            do {
                try distillation.validate()
            } catch {
                throw .configuration("\(error)")
            }
        }
        if !(0...3600).contains(trainingStatusAfterSeconds) {
            throw .configuration("training_status_after_seconds must be within 0 and 3600, not \(trainingStatusAfterSeconds)")
        }
        if let fraction = topKFraction, !(fraction > 0 && fraction <= 1) {
            throw .configuration("top_k_fraction must be within 0 (exclusive) and 1, not \(fraction)")
        }
        if let budget = privacyBudget, !(budget.epsilon > 0 && budget.delta > 0 && budget.delta < 1) {
            throw .configuration("privacy_budget needs epsilon > 0 and 0 < delta < 1")
        }
    }
}

/// The agent's durable record for one job: the last round it published for, its privacy
/// ledger (every mechanism it ran), and the signature of the update it published for that
/// round (the update's bytes are kept in a file beside the record).
struct AgentRecord: Codable {
    var job: String
    var lastServedRound: Int
    var ledger: [DPEvent]
    var lastUpdateSignature: String?
    /// When this agent published its updates of the last day (for its pacing).
    var publishTimes: [Double] = []
    /// Asynchronous jobs: the round open when the kept update was published.
    var lastUpdatePublishedDuring: Int?

    enum CodingKeys: String, CodingKey {
        case job, ledger
        case publishTimes = "publish_times"
        case lastUpdatePublishedDuring = "last_update_published_during"
        case lastServedRound = "last_served_round"
        case lastUpdateSignature = "last_update_signature"
    }

    init(job: String, lastServedRound: Int, ledger: [DPEvent], lastUpdateSignature: String? = nil) {
        self.job = job
        self.lastServedRound = lastServedRound
        self.ledger = ledger
        self.lastUpdateSignature = lastUpdateSignature
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        job = try container.decode(String.self, forKey: .job)
        lastServedRound = try container.decode(Int.self, forKey: .lastServedRound)
        ledger = try container.decodeIfPresent([DPEvent].self, forKey: .ledger) ?? []
        lastUpdateSignature = try container.decodeIfPresent(String.self, forKey: .lastUpdateSignature)
        publishTimes = try container.decodeIfPresent([Double].self, forKey: .publishTimes) ?? []
        lastUpdatePublishedDuring = try container.decodeIfPresent(Int.self, forKey: .lastUpdatePublishedDuring)
    }
}
