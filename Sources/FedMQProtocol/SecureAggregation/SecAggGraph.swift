import FedMQCore
import FoundationEssentials
import Glibc

/// Who shares secrets with whom in a secure-aggregation round, and how many shares rebuild a
/// secret.
///
/// Small cohorts use the complete graph (everyone's neighbour is everyone else). Larger ones
/// use a random k-regular graph as in SecAgg+ (Bell et al., CCS 2020): the agents in a seeded
/// random order on a ring, each linked to the k/2 nearest on either side. Each agent's
/// secrets are split among its k neighbours and itself (k + 1 holders) with threshold t.
public struct SecAggGraph: Sendable, Equatable {
    /// Each agent's neighbours, sorted.
    public let neighbours: [String: [String]]
    public let degree: Int
    public let threshold: Int

    /// - Parameters:
    ///   - members: the agents that advertised keys.
    ///   - degree: k; at least n - 1 makes the graph complete.
    ///   - threshold: t, with (k + 1)/2 < t <= k + 1.
    public init(members: [String], degree: Int, threshold: Int, seed: UInt64) throws(ProtocolError) {
        let n = members.count
        guard n >= 2 else { throw .invalidConfiguration("secure aggregation needs at least 2 agents, not \(n)") }
        let k = min(degree, n - 1)
        guard k >= 1, k <= 254 else { throw .invalidConfiguration("a neighbour count of \(k) is not within 1...254") }
        guard threshold > (k + 1) / 2, threshold <= k + 1 else {
            throw .invalidConfiguration("threshold \(threshold) must be more than half of, and at most, the \(k + 1) holders of each secret")
        }
        var order = members.sorted()
        var random = SplitMix64(seed: seed)
        order.shuffle(using: &random)
        var neighbours: [String: [String]] = [:]
        if k == n - 1 {
            for member in order { neighbours[member] = order.filter { $0 != member }.sorted() }
        } else {
            // k odd: the ring's k/2 nearest on each side plus the agent opposite (n even needed).
            guard k % 2 == 0 || n % 2 == 0 else { throw .invalidConfiguration("an odd neighbour count needs an even number of agents") }
            for (index, member) in order.enumerated() {
                var linked = Set<String>()
                for step in 1...max(1, k / 2) where k >= 2 {
                    linked.insert(order[(index + step) % n])
                    linked.insert(order[(index - step + n) % n])
                }
                if k % 2 == 1 { linked.insert(order[(index + n / 2) % n]) }
                neighbours[member] = linked.sorted()
            }
        }
        self.neighbours = neighbours
        self.degree = k
        self.threshold = threshold
    }

    /// The neighbour count k and threshold t for `cohort` agents, when up to `dropout` of them
    /// may drop out after sharing and up to `corruption` may collude with the aggregator.
    ///
    /// t is more than half of the k + 1 holders (so that no agent's two secrets can both be
    /// rebuilt) and k the smallest even count for which, with each neighbour independently
    /// dropped or corrupt at those rates, fewer than t surviving neighbours (the round fails for
    /// that agent) and t or more corrupt ones (its secrets leak) each have probability below
    /// 2^-20. Up to 32 agents, everyone is everyone's neighbour.
    public static func parameters(cohort: Int, dropout: Double, corruption: Double) throws(ProtocolError) -> (degree: Int, threshold: Int) {
        guard cohort >= 2 else { throw .invalidConfiguration("secure aggregation needs at least 2 agents") }
        guard (0..<0.5).contains(dropout), (0..<0.5).contains(corruption) else {
            throw .invalidConfiguration("dropout and corruption rates must be within 0 and 0.5")
        }
        let bound = 0x1p-20
        func fits(_ k: Int) -> Int? {
            let t = (k + 1) / 2 + 1
            let failing = binomialTail(trials: k, probability: 1 - dropout, below: t)
            let leaking = 1 - binomialTail(trials: k, probability: corruption, below: t)
            return failing < bound && leaking < bound ? t : nil
        }
        if cohort <= 32 {
            return (cohort - 1, cohort / 2 + 1)
        }
        for k in stride(from: 4, through: min(cohort - 1, 254), by: 2) {
            if let t = fits(k) { return (k, t) }
        }
        let k = min(cohort - 1, 254)
        return (k, (k + 1) / 2 + 1)
    }

    /// P[X < limit] for X ~ Binomial(trials, probability).
    static func binomialTail(trials: Int, probability: Double, below limit: Int) -> Double {
        var total = 0.0
        var logChoose = 0.0
        for successes in 0..<min(limit, trials + 1) {
            if successes > 0 { logChoose += log(Double(trials - successes + 1)) - log(Double(successes)) }
            let logTerm =
                logChoose + Double(successes) * log(max(probability, 1e-300)) + Double(trials - successes) * log(max(1 - probability, 1e-300))
            total += exp(logTerm)
        }
        return min(1, total)
    }
}
