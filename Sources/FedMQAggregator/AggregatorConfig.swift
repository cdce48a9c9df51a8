import FedMQCore
import FedMQProtocol
import FedMQRuntime

/// Everything `fedmq-aggregator` needs; read from `--config FILE` (JSON, snake_case keys),
/// with command-line flags overriding single fields. Every field but the required ones has
/// its default here: a field is its declaration and its key in `CodingKeys` (see `ConfigFile`).
public struct AggregatorConfig: ConfigFile, Sendable {
    public var job = ""
    public var broker = BrokerSettings()
    /// The model to start from: a spec (initialised from `seed`) ...
    public var model: ModelSpec?
    /// ... or a global-model safetensors file (with `fedmq.model_spec` metadata).
    public var initialModel: String?
    public var seed: UInt64 = 0
    public var policy = RoundPolicy(targetUpdates: 1, minUpdates: nil)
    /// Central evaluation data (CSV, label in the last column or the column named `evaluation_label`).
    public var evaluationCSV: String?
    public var evaluationLabel: String?
    /// Whether the CSV starts with a header line; nil: exactly when `evaluation_label` names a column.
    public var evaluationHeader: Bool?
    /// The evaluation data's feature columns, by header name, as the agents' `data_columns`.
    public var evaluationColumns: [String]?
    /// Central evaluation by a program of the user's instead (any framework; required to
    /// evaluate an external model): it reads `model.safetensors` and writes `evaluation.json`,
    /// and finds `evaluation_csv`, if given, in `FEDMQ_EVALUATION_CSV`.
    public var evaluationCommand: ExternalCommand?
    /// Unlabeled public data (CSV of the model's inputs, no label column) for server-side
    /// distillation (`policy.server_distillation`), and whether it starts with a header line.
    public var publicCSV: String?
    public var publicHeader = false
    /// Checkpoint, spool and metrics.jsonl live here.
    public var stateDirectory = ""
    /// Exit once the configured rounds are done (otherwise keep serving the retained state).
    public var exitWhenFinished = true
    /// The aggregator's Ed25519 private key file: it signs the global model and round announcements.
    public var identityKey: String?
    /// The enrolment file (`fedmq deploy init`): with it, only updates signed by an enrolled
    /// agent's key count.
    public var enrolment: String?
    /// Serve Prometheus metrics on `HOST:PORT` (`GET /metrics`); nil serves none.
    public var metricsAddress: String?
    /// Start over in a state directory that holds a job's files but no checkpoint (`--reset`):
    /// the old files are moved aside, never deleted. Not read from the config file.
    public var resetState = false

    public static let requiredKeys = ["job", "policy", "policy.target_updates", "state_directory"]

    enum CodingKeys: String, CodingKey {
        case job, broker, model, seed, policy, enrolment
        case initialModel = "initial_model"
        case evaluationCSV = "evaluation_csv"
        case evaluationLabel = "evaluation_label"
        case evaluationHeader = "evaluation_header"
        case evaluationColumns = "evaluation_columns"
        case evaluationCommand = "evaluation_command"
        case publicCSV = "public_csv"
        case publicHeader = "public_header"
        case stateDirectory = "state_directory"
        case exitWhenFinished = "exit_when_finished"
        case identityKey = "identity_key"
        case metricsAddress = "metrics_address"
    }

    /// Every field at its default (the required ones empty): what a config file is laid over.
    public init() {}

    /// The required fields; the others keep their defaults until set.
    public init(job: String, policy: RoundPolicy, stateDirectory: String) {
        self.job = job
        self.policy = policy
        self.stateDirectory = stateDirectory
    }

    /// The CSV options the evaluation data are read with.
    public var evaluationOptions: CSVOptions {
        CSVOptions(
            hasHeader: evaluationHeader ?? (evaluationLabel != nil || evaluationColumns != nil), label: evaluationLabel.map { .name($0) } ?? .last)
    }

    /// Refuses settings the aggregator cannot run with, naming the field.
    public func validate() throws(RuntimeError) {
        do {
            try Identifier.validate(job, kind: "job")
            try policy.validate()
            try model?.validate()
        } catch {
            // A policy's own refusal already reads "configuration: ...".
            if case ProtocolError.invalidConfiguration(let reason) = error { throw .configuration(reason) }
            throw .configuration("\(error)")
        }
        if policy.analytics != nil {
            if model != nil || initialModel != nil || evaluationCSV != nil || evaluationCommand != nil {
                throw .configuration("an analytics job has no model: leave out 'model', 'initial_model', 'evaluation_csv' and 'evaluation_command'")
            }
        } else if (model == nil) == (initialModel == nil) {
            throw .configuration("give exactly one of 'model' (a spec) and 'initial_model' (a file)")
        }
        if stateDirectory.isEmpty { throw .configuration("state_directory is empty") }
        if let evaluationColumns, evaluationColumns.isEmpty || Set(evaluationColumns).count != evaluationColumns.count || evaluationHeader == false {
            throw .configuration("evaluation_columns must name distinct columns of a CSV with a header line")
        }
        if let evaluationCommand {
            try evaluationCommand.validate(key: "evaluation_command")
        }
        if (policy.serverDistillation == nil) != (publicCSV == nil) {
            throw .configuration("policy.server_distillation and public_csv go together (the public data it distills on)")
        }
        if let metricsAddress, HostPort(metricsAddress) == nil {
            throw .configuration("metrics_address must be HOST:PORT (for example 127.0.0.1:9464), not '\(metricsAddress)'")
        }
    }
}
