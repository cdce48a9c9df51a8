import FedMQCore
import FedMQProtocol
import FedMQRuntime

/// Everything `fedmq-aggregator` needs; read from `--config FILE` (JSON, snake_case keys),
/// with command-line flags overriding single fields.
public struct AggregatorConfig: Codable, Sendable {
    public var job: String
    public var broker: BrokerSettings
    /// The model to start from: a spec (initialised from `seed`) ...
    public var model: ModelSpec?
    /// ... or a global-model safetensors file (with `fedmq.model_spec` metadata).
    public var initialModel: String?
    public var seed: UInt64
    public var policy: RoundPolicy
    /// Central evaluation data (CSV, label in the last column or the column named `evaluation_label`).
    public var evaluationCSV: String?
    public var evaluationLabel: String?
    public var evaluationHeader: Bool
    /// Checkpoint, spool and metrics.jsonl live here.
    public var stateDirectory: String
    /// Exit once the configured rounds are done (otherwise keep serving the retained state).
    public var exitWhenFinished: Bool
    /// The aggregator's Ed25519 private key file: it signs the global model and round announcements.
    public var identityKey: String?
    /// The enrolment file (`fedmq deploy init`): with it, only updates signed by an enrolled
    /// agent's key count.
    public var enrolment: String?
    /// Start over in a state directory that holds a job's files but no checkpoint (`--reset`):
    /// the old files are moved aside, never deleted. Not read from the config file.
    public var resetState = false

    public init(
        job: String, broker: BrokerSettings = .init(), model: ModelSpec? = nil, initialModel: String? = nil, seed: UInt64 = 0,
        policy: RoundPolicy, evaluationCSV: String? = nil, evaluationLabel: String? = nil, evaluationHeader: Bool = false,
        stateDirectory: String, exitWhenFinished: Bool = true, identityKey: String? = nil, enrolment: String? = nil
    ) {
        self.job = job
        self.broker = broker
        self.model = model
        self.initialModel = initialModel
        self.seed = seed
        self.policy = policy
        self.evaluationCSV = evaluationCSV
        self.evaluationLabel = evaluationLabel
        self.evaluationHeader = evaluationHeader
        self.stateDirectory = stateDirectory
        self.exitWhenFinished = exitWhenFinished
        self.identityKey = identityKey
        self.enrolment = enrolment
    }

    enum CodingKeys: String, CodingKey {
        case job, broker, model, seed, policy
        case initialModel = "initial_model", evaluationCSV = "evaluation_csv", evaluationLabel = "evaluation_label"
        case evaluationHeader = "evaluation_header", stateDirectory = "state_directory", exitWhenFinished = "exit_when_finished"
        case identityKey = "identity_key", enrolment
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        job = try container.decode(String.self, forKey: .job)
        broker = try container.decodeIfPresent(BrokerSettings.self, forKey: .broker) ?? .init()
        model = try container.decodeIfPresent(ModelSpec.self, forKey: .model)
        initialModel = try container.decodeIfPresent(String.self, forKey: .initialModel)
        seed = try container.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        policy = try container.decode(RoundPolicy.self, forKey: .policy)
        evaluationCSV = try container.decodeIfPresent(String.self, forKey: .evaluationCSV)
        evaluationLabel = try container.decodeIfPresent(String.self, forKey: .evaluationLabel)
        evaluationHeader = try container.decodeIfPresent(Bool.self, forKey: .evaluationHeader) ?? (evaluationLabel != nil)
        stateDirectory = try container.decode(String.self, forKey: .stateDirectory)
        exitWhenFinished = try container.decodeIfPresent(Bool.self, forKey: .exitWhenFinished) ?? true
        identityKey = try container.decodeIfPresent(String.self, forKey: .identityKey)
        enrolment = try container.decodeIfPresent(String.self, forKey: .enrolment)
    }

    public func validate() throws(RuntimeError) {
        do {
            try Identifier.validate(job, kind: "job")
            try policy.validate()
            try model?.validate()
        } catch {
            throw .configuration("\(error)")
        }
        if (model == nil) == (initialModel == nil) { throw .configuration("give exactly one of 'model' (a spec) and 'initial_model' (a file)") }
        if stateDirectory.isEmpty { throw .configuration("state_directory is empty") }
    }
}
