/// `site/<site>/received` (retained, on the site broker only): the agents whose updates a site
/// aggregator holds for a round, published when it restarted before sending its partial. An
/// agent that served that round and is not listed sends its kept update again: an update its
/// broker delivered but the killed site aggregator never spooled is recovered this way.
public struct SiteReceipt: Codable, Sendable, Equatable, SchemaVersioned {
    public static let schema = "fedmq.site-receipt/1"
    public var schema: String = Self.schema
    public var job: String
    public var site: String
    public var round: Int
    public var received: [String]

    /// The agents (sorted) whose updates `site` holds for `round`.
    public init(job: String, site: String, round: Int, received: [String]) {
        self.job = job
        self.site = site
        self.round = round
        self.received = received
    }

    /// Refuses invalid ids and rounds.
    public func validate() throws(ProtocolError) {
        func invalid(_ reason: String) -> ProtocolError { .invalidMessage(schema: Self.schema, reason: reason) }
        guard Identifier.isValid(job), Identifier.isValid(site) else { throw invalid("job or site is not a valid id") }
        guard (1...RoundAnnouncement.maxRound).contains(round) else { throw invalid("round must be within 1...\(RoundAnnouncement.maxRound)") }
        guard received.count <= 1_000_000, received.allSatisfy(Identifier.isValid) else { throw invalid("received must list valid agent ids") }
    }
}
