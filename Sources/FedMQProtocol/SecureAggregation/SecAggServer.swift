import FedMQCore
import FoundationEssentials

/// The aggregator's side of a secure-aggregation round, as a state machine without I/O. It
/// relays keys and encrypted shares, collects masked updates, asks the survivors for the
/// shares that remove the masks, and ends with the plain sum of the survivors' inputs. It
/// never sees one agent's input unmasked: a self mask is removed only for agents whose masked
/// input is already in the sum, and a pairwise mask key is rebuilt only for agents that
/// dropped out before sending one.
///
/// Each stage ends when every expected agent has answered or when the runtime calls its
/// `close…` at the stage's deadline; fewer than t agents left fails the round.
public struct SecAggServer: Sendable {
    /// The stage the round is in.
    public enum Stage: Sendable, Equatable {
        case collectingKeys, collectingShares, collectingMasked, collectingReveals, done
    }

    public let job: String
    public let round: Int
    /// Entries in a masked update.
    public let dimension: Int
    public private(set) var stage = Stage.collectingKeys
    /// Agents allowed to take part (the round's cohort).
    public let cohort: Set<String>
    private let enrolled: [String: VerifyingKey]?
    private let dropout: Double
    private let corruption: Double
    private let seed: UInt64
    public private(set) var graph: SecAggGraph?
    private var keys: [String: SecAggKeys] = [:]
    private var shares: [String: SecAggShares] = [:]
    private var masked: [String: [UInt32]] = [:]
    private var reveals: [String: SecAggReveal] = [:]
    public private(set) var unmask: SecAggUnmask?

    /// A secure round for `cohort` over vectors of `dimension` words.
    public init(
        job: String, round: Int, dimension: Int, cohort: Set<String>, enrolled: [String: VerifyingKey]?, dropout: Double, corruption: Double,
        seed: UInt64
    ) {
        self.job = job
        self.round = round
        self.dimension = dimension
        self.cohort = cohort
        self.enrolled = enrolled
        self.dropout = dropout
        self.corruption = corruption
        self.seed = seed
    }

    /// Agents whose message of the current stage is still expected.
    public var waitingFor: Set<String> {
        switch stage {
        case .collectingKeys: cohort.subtracting(keys.keys)
        case .collectingShares: Set(keys.keys).subtracting(shares.keys)
        case .collectingMasked: Set(shares.keys).subtracting(masked.keys)
        case .collectingReveals: Set(masked.keys).subtracting(reveals.keys)
        case .done: []
        }
    }

    /// Takes an agent's public keys (keys stage).
    public mutating func keysReceived(from agent: String, _ message: SecAggKeys) throws(ProtocolError) {
        guard stage == .collectingKeys else { throw .secureAggregation("keys from \(agent) after the key stage closed") }
        guard cohort.contains(agent), message.agent == agent else { throw .secureAggregation("keys from \(agent), not in the cohort or not its own") }
        guard keys[agent] == nil else { throw .secureAggregation("second set of keys from \(agent)") }
        // Only canonical keys: the rosters carry them packed as bytes (`PackedKeys`).
        try message.validate()
        try SecAggClient.check(message, job: job, round: round, enrolled: enrolled)
        keys[agent] = message
    }

    /// Ends the key stage: the neighbour graph over the agents that sent keys, and one roster per agent.
    public mutating func closeKeys() throws(ProtocolError) -> [SecAggRoster] {
        guard stage == .collectingKeys else { throw .secureAggregation("the key stage is over") }
        let members = keys.keys.sorted()
        let (degree, threshold) = try SecAggGraph.parameters(cohort: max(2, members.count), dropout: dropout, corruption: corruption)
        let graph = try SecAggGraph(members: members, degree: degree, threshold: threshold, seed: seed)
        self.graph = graph
        stage = .collectingShares
        return members.map { member in
            SecAggRoster(
                job: job, round: round, agent: member, cohort: members.count, threshold: graph.threshold,
                neighbours: (graph.neighbours[member] ?? []).compactMap { keys[$0] },
                keysSHA256: keys[member]?.fingerprint ?? "")
        }
    }

    /// Takes an agent's encrypted shares for its neighbours (shares stage).
    public mutating func sharesReceived(from agent: String, _ message: SecAggShares) throws(ProtocolError) {
        guard stage == .collectingShares, let graph else { throw .secureAggregation("shares from \(agent) outside the share stage") }
        guard message.agent == agent, message.job == job, message.round == round, keys[agent] != nil else {
            throw .secureAggregation("shares from \(agent) that are not its own for this round")
        }
        guard shares[agent] == nil else { throw .secureAggregation("second set of shares from \(agent)") }
        let peers = message.shares.map(\.peer)
        guard peers.count == Set(peers).count, Set(peers) == Set(graph.neighbours[agent] ?? []) else {
            throw .secureAggregation("shares from \(agent) are not one for each of its neighbours")
        }
        shares[agent] = message
    }

    /// Ends the share stage: each agent that shared gets the shares its sharing neighbours sent it.
    public mutating func closeShares() throws(ProtocolError) -> [SecAggShareDelivery] {
        guard stage == .collectingShares, let graph else { throw .secureAggregation("the share stage is not open") }
        try requireQuorum(shares.count, "shared")
        stage = .collectingMasked
        return shares.keys.sorted().map { receiver in
            let incoming = (graph.neighbours[receiver] ?? []).compactMap { sender -> SecAggSealedShare? in
                guard let sealed = shares[sender]?.shares.first(where: { $0.peer == receiver }) else { return nil }
                return SecAggSealedShare(peer: sender, sealed: sealed.sealed)
            }
            return SecAggShareDelivery(job: job, round: round, agent: receiver, shares: incoming)
        }
    }

    /// Takes an agent's masked input (masking stage).
    public mutating func maskedReceived(from agent: String, _ words: [UInt32]) throws(ProtocolError) {
        guard stage == .collectingMasked else { throw .secureAggregation("masked update from \(agent) outside the masking stage") }
        guard shares[agent] != nil else { throw .secureAggregation("masked update from \(agent), which did not share") }
        guard masked[agent] == nil else { throw .secureAggregation("second masked update from \(agent)") }
        guard words.count == dimension else { throw .secureAggregation("masked update of \(words.count) words; the model has \(dimension)") }
        masked[agent] = words
    }

    /// Ends the masking stage: who survived and who dropped after sharing.
    public mutating func closeMasking() throws(ProtocolError) -> SecAggUnmask {
        guard stage == .collectingMasked else { throw .secureAggregation("the masking stage is not open") }
        try requireQuorum(masked.count, "sent a masked update")
        let request = SecAggUnmask(
            job: job, round: round, survivors: masked.keys.sorted(), dropped: Set(shares.keys).subtracting(masked.keys).sorted())
        unmask = request
        stage = .collectingReveals
        return request
    }

    /// Takes an agent's revealed shares (unmasking stage).
    public mutating func revealReceived(from agent: String, _ message: SecAggReveal) throws(ProtocolError) {
        guard stage == .collectingReveals, let unmask, let graph else { throw .secureAggregation("reveal from \(agent) outside the reveal stage") }
        try message.validate()
        guard message.agent == agent, message.job == job, message.round == round, masked[agent] != nil else {
            throw .secureAggregation("reveal from \(agent) that is not its own for this round")
        }
        guard reveals[agent] == nil else { throw .secureAggregation("second reveal from \(agent)") }
        let neighbours = Set(graph.neighbours[agent] ?? []).union([agent])
        guard message.selfMasks.allSatisfy({ neighbours.contains($0.owner) && unmask.survivors.contains($0.owner) }),
            message.maskKeys.allSatisfy({ neighbours.contains($0.owner) && unmask.dropped.contains($0.owner) })
        else { throw .secureAggregation("reveal from \(agent) holds shares it was not asked for") }
        // Each share must sit at the point its owner gave this holder, and have a secret's length.
        for revealed in message.selfMasks + message.maskKeys {
            guard revealed.share.x == Self.point(of: agent, amongHoldersOf: revealed.owner, in: graph),
                revealed.share.y.count == SecAggCrypto.secretBytes
            else {
                throw .secureAggregation(
                    "reveal from \(agent): its share of \(revealed.owner)'s secret is not at its point or not \(SecAggCrypto.secretBytes) bytes")
            }
        }
        reveals[agent] = message
    }

    /// The Shamir point of `holder` for `owner`'s secrets: its place among the owner's
    /// neighbours and the owner, sorted (as `SecAggClient` splits them).
    static func point(of holder: String, amongHoldersOf owner: String, in graph: SecAggGraph) -> UInt8? {
        let holders = ((graph.neighbours[owner] ?? []) + [owner]).sorted()
        return holders.firstIndex(of: holder).map { UInt8($0 + 1) }
    }

    /// Whether every survivor's self mask and every dropped agent's key can be rebuilt.
    public var canFinish: Bool {
        guard stage == .collectingReveals, let unmask, let graph else { return false }
        let selfCounts = reveals.values.flatMap(\.selfMasks).reduce(into: [String: Int]()) { $0[$1.owner, default: 0] += 1 }
        let keyCounts = reveals.values.flatMap(\.maskKeys).reduce(into: [String: Int]()) { $0[$1.owner, default: 0] += 1 }
        return unmask.survivors.allSatisfy { selfCounts[$0, default: 0] >= graph.threshold }
            && unmask.dropped.allSatisfy { keyCounts[$0, default: 0] >= graph.threshold }
    }

    /// The sum of the survivors' inputs (modulo 2^32) and who they are.
    public mutating func finish() throws(ProtocolError) -> (sum: [UInt32], survivors: [String]) {
        guard canFinish, let unmask, let graph else {
            throw .secureAggregation("fewer than t shares revealed for some agent; the round cannot be unmasked")
        }
        var sum = [UInt32](repeating: 0, count: dimension)
        for agent in unmask.survivors {
            guard let words = masked[agent] else { throw .secureAggregation("no masked update from survivor \(agent)") }
            SecAggClient.add(words, to: &sum)
        }
        let context = "\(job)\n\(round)"
        for agent in unmask.survivors {
            let seed = try rebuild(agent, \.selfMasks, threshold: graph.threshold, what: "self-mask seed") { seed in
                ModelCodec.sha256(seed) == keys[agent]?.selfMaskCommitment
            }
            SecAggClient.subtract(try SecAggCrypto.maskWords(seed: seed, count: dimension), from: &sum)
        }
        for dropped in unmask.dropped {
            let privateKey = try rebuild(dropped, \.maskKeys, threshold: graph.threshold, what: "mask key") { privateKey in
                guard let publicKey = try? SecAggCrypto.publicKey(of: privateKey) else { return false }
                return Data(publicKey).base64EncodedString() == keys[dropped]?.maskKey
            }
            // Survivors that received its share added (or subtracted) a pairwise mask with it.
            for survivor in unmask.survivors where shares[dropped]?.shares.contains(where: { $0.peer == survivor }) == true {
                guard let survivorKeys = keys[survivor] else { continue }
                let seed = try SecAggCrypto.sharedKey(
                    privateRaw: privateKey, publicRaw: SecAggClient.decode(survivorKeys.maskKey), context: context,
                    purpose: "fedmq secagg pairwise mask")
                let words = try SecAggCrypto.maskWords(seed: seed, count: dimension)
                if survivor < dropped { SecAggClient.subtract(words, from: &sum) } else { SecAggClient.add(words, to: &sum) }
            }
        }
        stage = .done
        return (sum, unmask.survivors)
    }

    /// Most subsets of t revealed shares tried for one secret before giving up.
    static let maximumSubsetsTried = 4096

    /// `owner`'s secret from t of the revealed shares, checked by `matches` (its commitment or
    /// public key). A holder that revealed a wrong share only makes the first subsets fail:
    /// other subsets of t are tried, in order, up to `maximumSubsetsTried`.
    private func rebuild(
        _ owner: String, _ kind: KeyPath<SecAggReveal, [SecAggRevealedShare]>, threshold: Int, what: String,
        matches: ([UInt8]) -> Bool
    ) throws(ProtocolError) -> [UInt8] {
        let revealed = revealedShares(of: owner, kind)
        var tried = 0
        var found: [UInt8]?
        Self.forEachSubset(of: revealed.count, size: threshold) { indices in
            tried += 1
            if let secret = try? ShamirSharing.combine(indices.map { revealed[$0] }), matches(secret) { found = secret }
            return found == nil && tried < Self.maximumSubsetsTried
        }
        guard let found else {
            throw .secureAggregation(
                "the \(what) of \(owner) could not be rebuilt from \(revealed.count) revealed shares (\(tried) subsets of \(threshold) tried): some are wrong"
            )
        }
        return found
    }

    /// Calls `body` with each subset of `size` of `0..<count`, in lexicographic order, while it returns true.
    static func forEachSubset(of count: Int, size: Int, _ body: ([Int]) -> Bool) {
        guard size >= 1, size <= count else { return }
        var indices = Array(0..<size)
        while body(indices) {
            var position = size - 1
            while position >= 0 && indices[position] == count - size + position { position -= 1 }
            guard position >= 0 else { return }
            indices[position] += 1
            for next in position + 1..<size { indices[next] = indices[next - 1] + 1 }
        }
    }

    /// The shares of `owner`'s secret the survivors revealed, in the order of the revealers' ids.
    private func revealedShares(of owner: String, _ kind: KeyPath<SecAggReveal, [SecAggRevealedShare]>) -> [ShamirSharing.Share] {
        reveals.keys.sorted().compactMap { revealer in reveals[revealer]?[keyPath: kind].first { $0.owner == owner }?.share }
    }

    private func requireQuorum(_ count: Int, _ what: String) throws(ProtocolError) {
        guard let graph, count >= graph.threshold else {
            throw .secureAggregation("only \(count) agents \(what); the round needs at least the threshold t = \(graph?.threshold ?? 0)")
        }
    }
}
