/// A federated analytics job: the queries every agent answers from its own records, how many
/// records one agent may weigh, and whom the privacy protects.
///
/// Each agent sends one vector of sufficient statistics (`StatisticsLayout`), in units of
/// `max_records` records: an agent with n records weighs min(n, max_records) of them, so its
/// vector has an L2 norm of at most `contributionBound`. The fleet's sum of these vectors gives
/// every answer (`AnalyticsAnswer`); the privacy noise goes onto that sum exactly as it goes
/// onto a model update, so secure aggregation, the accountants and the agents' ledgers work
/// unchanged.
public struct AnalyticsSettings: Codable, Sendable, Equatable {
    /// Whom the differential privacy protects.
    public enum Level: String, Codable, Sendable, CaseIterable {
        /// A whole agent's data: the noise is sized for one agent's whole vector.
        case client
        /// One record of one agent: the noise is sized for what one record changes, about
        /// 1/max_records of an agent's vector (`sensitivity`).
        case record
    }

    public var queries: [AnalyticsQuery]
    /// The most records one agent's answer weighs; an agent with more scales its sums down to
    /// this many (its mean, variance and histogram shape are kept).
    public var maxRecords: Int
    public var level: Level

    /// Queries answered with agents weighing at most `maxRecords` records each.
    public init(queries: [AnalyticsQuery], maxRecords: Int = 1000, level: Level = .client) {
        self.queries = queries
        self.maxRecords = maxRecords
        self.level = level
    }

    enum CodingKeys: String, CodingKey {
        case queries, level
        case maxRecords = "max_records"
    }

    /// `queries` is required; `max_records` defaults to 1000 and `level` to `client`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        queries = try container.decode([AnalyticsQuery].self, forKey: .queries)
        maxRecords = try container.decodeIfPresent(Int.self, forKey: .maxRecords) ?? 1000
        level = try container.decodeIfPresent(Level.self, forKey: .level) ?? .client
    }

    /// Most queries one job may ask.
    public static let maxQueries = 100

    /// Refuses settings without queries, with an invalid query or a record cap out of range.
    public func validate() throws(CoreError) {
        guard (1...Self.maxQueries).contains(queries.count) else {
            throw .invalidQuery(query: "", reason: "give 1 to \(Self.maxQueries) queries")
        }
        guard (1...1_000_000_000).contains(maxRecords) else {
            throw .invalidQuery(query: "", reason: "max_records must be within 1...10^9")
        }
        for query in queries { try query.validate() }
    }

    /// Where each query's entries lie in the agents' vectors.
    public var layout: StatisticsLayout { StatisticsLayout(queries: queries) }

    /// C: the largest L2 norm of one agent's vector. One record adds a vector of norm at most C
    /// (in units of `max_records` records), and an agent weighs at most `max_records` records.
    public var contributionBound: Double { layout.recordNormBound }

    /// Δ: how far one protected unit moves the fleet's sum of vectors in L2. For a whole agent
    /// that is C. For one record of an agent holding n records: while n ≤ m (`max_records`) the
    /// record adds its own vector over m, at most C/m. Beyond, the agent's vector is the mean of
    /// its n records' vectors; adding the n-th moves that mean by (r_n − mean of the others)/n,
    /// at most D/(m + 1), with D the diameter of the records' vectors (`recordDiameter`). So
    /// Δ = max(C/m, D/(m + 1)).
    public var sensitivity: Double {
        switch level {
        case .client: contributionBound
        case .record: max(contributionBound / Double(maxRecords), layout.recordDiameter / Double(maxRecords + 1))
        }
    }
}
