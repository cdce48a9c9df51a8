/// What an agent demands of a secure-aggregation roster before it shares any secret.
///
/// The aggregator builds the neighbour graph, so a dishonest one could hand an agent a roster
/// of no neighbours and threshold 1 (the Shamir share is then the seed itself), or neighbours
/// under enrolled names with keys it made. The agent therefore derives the smallest neighbour
/// count k and threshold t itself, by the aggregator's own rule (`SecAggGraph.parameters`),
/// from the roster's cohort and the dropout and corruption rates (the announced ones, raised
/// to the agent owner's floors), and accepts only neighbours whose keys are signed by their
/// enrolled identity.
public struct SecAggRequirements: Sendable, Equatable {
    /// The fleet's enrolled identity keys, by agent.
    public var enrolled: [String: VerifyingKey]
    /// The smallest cohort this agent takes part in.
    public var minimumCohort: Int
    /// Rates k and t are derived for.
    public var dropoutRate: Double
    public var corruptionRate: Double

    /// What an agent demands of a roster: enrolled neighbours, a cohort of at least
    /// `minimumCohort`, and a graph sized for at least these dropout and corruption rates.
    public init(enrolled: [String: VerifyingKey], minimumCohort: Int = 3, dropoutRate: Double, corruptionRate: Double) {
        self.enrolled = enrolled
        self.minimumCohort = minimumCohort
        self.dropoutRate = dropoutRate
        self.corruptionRate = corruptionRate
    }

    /// The smallest neighbour count and threshold acceptable in a roster for `cohort` agents.
    public func minimumGraph(cohort: Int) throws(ProtocolError) -> (degree: Int, threshold: Int) {
        guard cohort >= max(2, minimumCohort) else {
            throw .secureAggregation("the roster's cohort of \(cohort) agents is below this agent's minimum of \(max(2, minimumCohort))")
        }
        let (degree, threshold) = try SecAggGraph.parameters(cohort: cohort, dropout: dropoutRate, corruption: corruptionRate)
        return (min(degree, cohort - 1), threshold)
    }

    /// Checks `roster`'s size and threshold against the minimum for its cohort.
    func check(_ roster: SecAggRoster, neighbours: Int) throws(ProtocolError) {
        let (degree, threshold) = try minimumGraph(cohort: roster.cohort)
        guard neighbours >= degree else {
            throw .secureAggregation("the roster names \(neighbours) neighbours; a cohort of \(roster.cohort) needs at least \(degree)")
        }
        guard roster.threshold >= threshold, roster.threshold > (neighbours + 1) / 2 else {
            throw .secureAggregation(
                "threshold \(roster.threshold) is below the minimum \(max(threshold, (neighbours + 1) / 2 + 1)) for \(neighbours + 1) holders")
        }
    }
}
