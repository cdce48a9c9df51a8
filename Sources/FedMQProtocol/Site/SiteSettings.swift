/// When a site aggregator sends its partial, and whose updates it takes. JSON keys are
/// snake_case (the `site` object of a site aggregator's config file).
public struct SiteSettings: Codable, Sendable, Equatable {
    /// The site's name: its partials go to `round/<r>/partial/<name>` and the central
    /// aggregator's `policy.sites` must list it.
    public var name: String
    /// Send the partial as soon as this many agents' updates are in; nil: as soon as every agent
    /// of the site has sent one: those of `allowed_agents`, else the enrolled ones, else (an open
    /// fleet) those online by their retained status, which may be fewer than will come.
    public var targetUpdates: Int?
    /// At the cutoff, send only with at least this many; with fewer, wait on (the central
    /// aggregator reports the site missing, and an extension gives it another cutoff).
    public var minUpdates = 1
    /// The cutoff: this many seconds before the central round's deadline, so the partial crosses
    /// the bridge in time.
    public var marginSeconds = 5.0
    /// Agents allowed to send updates to this site; nil accepts any valid agent id.
    public var allowedAgents: [String]?
    /// Most agents tracked by status, and most updates held while the round's model is missing.
    public var maxAgents = 100_000
    /// The largest example count an update is weighted by (agents report their own).
    public var maxExamplesPerUpdate = 1_000_000
    /// An ingest shard: this site aggregator runs on the central aggregator's own broker and
    /// takes its share of the agents' updates through the MQTT 5 shared subscription
    /// `$share/<ingest_group>/...`. It sends its partial (possibly empty) once every agent online
    /// has served the round by its status, since it cannot know how many updates its share holds.
    public var ingestGroup: String?

    /// A site named `name` with every other setting at its default.
    public init(name: String) {
        self.name = name
    }

    enum CodingKeys: String, CodingKey {
        case name
        case targetUpdates = "target_updates"
        case minUpdates = "min_updates"
        case marginSeconds = "margin_seconds"
        case allowedAgents = "allowed_agents"
        case maxAgents = "max_agents"
        case maxExamplesPerUpdate = "max_examples_per_update"
        case ingestGroup = "ingest_group"
    }

    /// Refuses settings a site aggregator cannot run with, naming the field.
    public func validate() throws(ProtocolError) {
        func invalid(_ text: String) -> ProtocolError { .invalidConfiguration("site.\(text)") }
        try Identifier.validate(name, kind: "site")
        if let targetUpdates, targetUpdates < minUpdates { throw invalid("target_updates must be at least min_updates") }
        if minUpdates < 1 { throw invalid("min_updates must be at least 1") }
        if !(marginSeconds >= 0 && marginSeconds.isFinite && marginSeconds <= RoundAnnouncement.maxRoundSeconds) {
            throw invalid("margin_seconds must be a non-negative number of seconds")
        }
        for agent in allowedAgents ?? [] { try Identifier.validate(agent, kind: "agent") }
        if maxAgents < 1 { throw invalid("max_agents must be at least 1") }
        if !(1...(1 << 40)).contains(maxExamplesPerUpdate) { throw invalid("max_examples_per_update must be within 1...2^40") }
        if let ingestGroup {
            try Identifier.validate(ingestGroup, kind: "ingest group")
            // A shard cannot count its share: it sends once every online agent has served the round.
            if targetUpdates != nil { throw invalid("target_updates does not apply to an ingest shard (ingest_group)") }
        }
    }
}
