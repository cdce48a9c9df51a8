/// What an asynchronous aggregator remembers across versions: the base model of each recent
/// round (so an update trained on an older version is checked against the model it names),
/// and the newest round each agent's update counted in (so a replayed or second update on
/// the same or an older version is a duplicate, also after a restart).
public struct VersionHistory: Codable, Sendable, Equatable {
    /// sha256 of the base model of rounds `firstRound`, `firstRound + 1`, ... (the last is the open round's).
    public private(set) var baseHashes: [String]
    public private(set) var firstRound: Int
    /// Per agent, the round of its newest update that counted (applied, or in the open buffer).
    public var lastCounted: [String: Int]

    /// The history of a job whose round `round` is open on base model `baseSHA256`.
    public init(round: Int, baseSHA256: String) {
        baseHashes = [baseSHA256]
        firstRound = round
        lastCounted = [:]
    }

    enum CodingKeys: String, CodingKey {
        case baseHashes = "base_hashes"
        case firstRound = "first_round"
        case lastCounted = "last_counted"
    }

    /// The base model's sha256 of `round`, if it is still remembered.
    public func baseSHA256(ofRound round: Int) -> String? {
        let index = round - firstRound
        return baseHashes.indices.contains(index) ? baseHashes[index] : nil
    }

    /// Round `round` opened on `baseSHA256`; only the newest `keep` rounds stay remembered.
    public mutating func open(round: Int, baseSHA256: String, keep: Int) {
        guard round == newestRound + 1 else {
            (baseHashes, firstRound) = ([baseSHA256], round)
            return
        }
        baseHashes.append(baseSHA256)
        let excess = baseHashes.count - max(1, keep)
        if excess > 0 {
            baseHashes.removeFirst(excess)
            firstRound += excess
        }
    }

    /// The open round, whose base model is the newest remembered.
    public var newestRound: Int { firstRound + baseHashes.count - 1 }
}
