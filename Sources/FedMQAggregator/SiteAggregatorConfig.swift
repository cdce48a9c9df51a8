import FedMQProtocol
import FedMQRuntime

/// Everything `fedmq-aggregator` needs in the site role (a config file with a `site` object, or
/// `--site NAME`): it runs beside a site broker that is bridged to the central one, folds its
/// agents' updates into one partial per round and sends it up. JSON, snake_case keys; every
/// field but the required ones has its default here (see `ConfigFile`).
public struct SiteAggregatorConfig: ConfigFile, Sendable {
    public var job = ""
    /// The site broker (the agents' broker, bridged to the central one).
    public var broker = BrokerSettings()
    public var site = SiteSettings(name: "")
    /// Spool, checkpoint (`site.json`) live here.
    public var stateDirectory = ""
    /// The site's Ed25519 private key file: it signs the partials (the central aggregator's
    /// enrolment lists its public key under `sites`).
    public var identityKey: String?
    /// The site's enrolment file: its agents' keys (only updates they signed count) and the
    /// central aggregator's (only the round and model it signed are followed).
    public var enrolment: String?
    /// Exit once the central aggregator says the job is finished.
    public var exitWhenFinished = true

    public static let requiredKeys = ["job", "site", "site.name", "state_directory"]

    enum CodingKeys: String, CodingKey {
        case job, broker, site, enrolment
        case stateDirectory = "state_directory"
        case identityKey = "identity_key"
        case exitWhenFinished = "exit_when_finished"
    }

    /// Every field at its default (the required ones empty): what a config file is laid over.
    public init() {}

    /// The required fields; the others keep their defaults until set.
    public init(job: String, site: String, stateDirectory: String) {
        self.job = job
        self.site = SiteSettings(name: site)
        self.stateDirectory = stateDirectory
    }

    /// Refuses settings the site aggregator cannot run with, naming the field.
    public func validate() throws(RuntimeError) {
        do {
            try Identifier.validate(job, kind: "job")
            try site.validate()
        } catch {
            if case ProtocolError.invalidConfiguration(let reason) = error { throw .configuration(reason) }
            throw .configuration("\(error)")
        }
        if stateDirectory.isEmpty { throw .configuration("state_directory is empty") }
    }
}
