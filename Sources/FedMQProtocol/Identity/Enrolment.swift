import FoundationEssentials

/// Who may take part, by key: the aggregator's public key (agents check the global model and
/// round announcements against it) and every enrolled agent's (the aggregator checks updates
/// against them). `fedmq deploy init` writes it; JSON, `fedmq.enrolment/1`.
public struct Enrolment: Codable, Sendable, Equatable, SchemaVersioned {
    public static let schema = "fedmq.enrolment/1"
    public var schema: String = Self.schema
    public var aggregator: VerifyingKey?
    public var agents: [String: VerifyingKey]
    /// The key holder's identity key (homomorphic jobs): agents and the aggregator use only the
    /// Paillier key it signed, and the aggregator only the sums it signed.
    public var keyholder: VerifyingKey?
    /// Site aggregators' identity keys (a central aggregator with sites): only partials their
    /// site signed count.
    public var sites: [String: VerifyingKey]?

    /// The aggregator's public key, each enrolled agent's, the key holder's if the fleet has one,
    /// and each site aggregator's if it has sites.
    public init(aggregator: VerifyingKey?, agents: [String: VerifyingKey], keyholder: VerifyingKey? = nil, sites: [String: VerifyingKey]? = nil) {
        self.aggregator = aggregator
        self.agents = agents
        self.keyholder = keyholder
        self.sites = sites
    }

    /// Refuses invalid agent and site ids.
    public func validate() throws(ProtocolError) {
        for agent in agents.keys { try Identifier.validate(agent, kind: "agent") }
        for site in (sites ?? [:]).keys { try Identifier.validate(site, kind: "site") }
    }
}
