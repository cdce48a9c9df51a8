import FedMQCore

/// Which online agents take part in a round: a fixed `count` or a `fraction` of those online,
/// drawn with a seeded generator so that a run can be repeated. JSON: `{"fraction": 0.5, "seed": 7}`.
public struct ClientSelection: Codable, Sendable, Equatable {
    public var count: Int?
    public var fraction: Double?
    public var seed: UInt64

    /// Give exactly one of `count` and `fraction`.
    public init(count: Int? = nil, fraction: Double? = nil, seed: UInt64 = 0) {
        self.count = count
        self.fraction = fraction
        self.seed = seed
    }

    enum CodingKeys: String, CodingKey { case count, fraction, seed }

    /// Decodes `{"count": N}` or `{"fraction": F}`, `seed` defaulting to 0.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        count = try container.decodeIfPresent(Int.self, forKey: .count)
        fraction = try container.decodeIfPresent(Double.self, forKey: .fraction)
        seed = try container.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
    }

    /// Refuses both or neither of `count` and `fraction`, and values out of range.
    public func validate() throws(ProtocolError) {
        guard (count == nil) != (fraction == nil) else { throw .invalidConfiguration("selection takes either 'count' or 'fraction'") }
        if let count, count < 1 { throw .invalidConfiguration("selection count must be at least 1") }
        if let fraction, !(fraction > 0 && fraction <= 1) { throw .invalidConfiguration("selection fraction must be within (0, 1]") }
    }

    /// How many of `available` agents to pick: never fewer than `minimum` (the round's quorum)
    /// while there are that many, never more than there are.
    public func size(available: Int, minimum: Int) -> Int {
        let wanted = count ?? Int((Double(available) * (fraction ?? 1)).rounded(.up))
        return min(available, max(wanted, minimum))
    }

    /// The agents picked for `round` from `candidates`: the same inputs always give the same picks.
    public func pick(from candidates: Set<String>, round: Int, minimum: Int) -> [String] {
        let sorted = candidates.sorted()
        var random = SplitMix64(seed: seed &+ UInt64(round) &* 0x9E37_79B9)
        let order = random.permutation(sorted.count)
        return order.prefix(size(available: sorted.count, minimum: minimum)).map { sorted[$0] }.sorted()
    }
}
