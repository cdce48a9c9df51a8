import Crypto
import FedMQCore
import FoundationEssentials

/// One agent's side of a secure-aggregation round (SecAgg+, Bell et al. CCS 2020, after
/// Bonawitz et al. CCS 2017), as a state machine without I/O:
///
/// 1. `keys`: fresh X25519 keys for this round and a commitment to a random self-mask seed,
///    signed with the agent's identity key.
/// 2. `rosterReceived`: checks the roster against `SecAggRequirements` (at least the k and t
///    the agent derives itself, every neighbour's keys signed by its enrolled identity), splits
///    its self-mask seed and its mask private key into Shamir shares (threshold t) among its
///    neighbours and itself, keeps its own, and encrypts one of each to every neighbour.
/// 3. `deliveryReceived`: learns which neighbours shared and decrypts their shares. A share
///    that does not open (or names another round, sender or receiver, or has the wrong length)
///    is set aside: that neighbour's secrets get no help from this agent, but the round goes on.
/// 4. `maskedInput`: its quantized update plus the self mask and, for each neighbour that
///    shared, a pairwise mask (added if its id sorts first, subtracted otherwise), so the
///    pairwise masks cancel in the sum.
/// 5. `reveal`: once, and only if at least t of its secrets' holders are listed as survivors:
///    the self-mask shares of neighbours that survived and the mask-key shares of neighbours
///    that dropped, never both for one agent.
public struct SecAggClient: Sendable {
    /// Where the agent is in the round.
    public enum Stage: Sendable, Equatable {
        case advertised, shared, delivered, masked, revealed
    }

    public let agent: String
    public let job: String
    public let round: Int
    public let keys: SecAggKeys
    public private(set) var stage = Stage.advertised
    private let cipherPrivate: [UInt8]
    private let maskPrivate: [UInt8]
    private let selfMaskSeed: [UInt8]
    private var neighbours: [String: SecAggKeys] = [:]
    private var threshold = 0
    /// Shares received, by sender (this agent's own included).
    private var held: [String: SecAggSharePlaintext] = [:]
    /// Neighbours that shared (as the delivery lists them): the pairwise masks are with these.
    private var sharing: Set<String> = []
    /// Neighbours whose share did not open, and why.
    public private(set) var faultyPeers: [String: String] = [:]

    /// Makes this round's key pairs and mask seed for `agent`, signed with its identity.
    public init(agent: String, job: String, round: Int, identity: SigningKey, using random: inout some RandomNumberGenerator) throws(ProtocolError) {
        try self.init(
            agent: agent, job: job, round: round, identity: identity, selfMaskSeed: SecAggCrypto.randomBytes(SecAggCrypto.secretBytes, using: &random)
        )
    }

    /// With a given self-mask seed: tests play a malicious agent with a seed of the wrong length.
    init(agent: String, job: String, round: Int, identity: SigningKey, selfMaskSeed: [UInt8]) throws(ProtocolError) {
        self.agent = agent
        self.job = job
        self.round = round
        cipherPrivate = SecAggCrypto.newAgreementKey()
        maskPrivate = SecAggCrypto.newAgreementKey()
        self.selfMaskSeed = selfMaskSeed
        var keys = SecAggKeys(
            job: job, round: round, agent: agent, cipherKey: Data(try SecAggCrypto.publicKey(of: cipherPrivate)).base64EncodedString(),
            maskKey: Data(try SecAggCrypto.publicKey(of: maskPrivate)).base64EncodedString(),
            selfMaskCommitment: ModelCodec.sha256(selfMaskSeed), identityKey: identity.publicKey.base64, signature: "")
        keys.signature = identity.sign(keys.statement)
        self.keys = keys
    }

    var context: String { "\(job)\n\(round)" }

    /// Checks the roster against `requirements` (its size and threshold, every neighbour's keys
    /// signed by its enrolled identity key) and returns this agent's encrypted shares.
    public mutating func rosterReceived(
        _ roster: SecAggRoster, requirements: SecAggRequirements, using random: inout some RandomNumberGenerator
    ) throws(ProtocolError) -> SecAggShares {
        guard stage == .advertised else { throw .secureAggregation("roster arrived twice or late") }
        guard roster.job == job, roster.round == round, roster.agent == agent else {
            throw .secureAggregation("roster for \(roster.agent) in \(roster.job) round \(roster.round), not this agent's round \(round)")
        }
        guard roster.keysSHA256 == keys.fingerprint else {
            throw .secureAggregation("the roster was made for other keys of this agent (it restarted within the round); sitting this round out")
        }
        var byAgent: [String: SecAggKeys] = [:]
        for entry in roster.neighbours {
            guard requirements.enrolled[entry.agent] != nil else {
                throw .secureAggregation("roster names \(entry.agent), which is not enrolled")
            }
            try Self.check(entry, job: job, round: round, enrolled: requirements.enrolled)
            guard entry.agent != agent, byAgent.updateValue(entry, forKey: entry.agent) == nil else {
                throw .secureAggregation("roster lists \(entry.agent) twice or lists this agent as its own neighbour")
            }
        }
        try requirements.check(roster, neighbours: byAgent.count)
        let holders = (Array(byAgent.keys) + [agent]).sorted()
        let points = holders.indices.map { UInt8($0 + 1) }
        let selfShares = try ShamirSharing.split(selfMaskSeed, threshold: roster.threshold, points: points, using: &random)
        let keyShares = try ShamirSharing.split(maskPrivate, threshold: roster.threshold, points: points, using: &random)
        var sealed: [SecAggSealedShare] = []
        for (index, peer) in holders.enumerated() {
            let plaintext = SecAggSharePlaintext(
                job: job, round: round, from: agent, to: peer, selfMask: selfShares[index], maskKey: keyShares[index])
            if peer == agent {
                held = [agent: plaintext]
                continue
            }
            let key = try shareKey(peer: byAgent[peer]!, from: agent, to: peer)
            sealed.append(
                SecAggSealedShare(
                    peer: peer,
                    sealed: try SecAggCrypto.seal(
                        plaintext.sealedForm, key: key, authenticating: Self.shareContext(job: job, round: round, from: agent, to: peer))))
        }
        neighbours = byAgent
        threshold = roster.threshold
        stage = .shared
        return SecAggShares(job: job, round: round, agent: agent, shares: sealed)
    }

    /// Notes which neighbours shared and opens their shares. A share that fails a check is set
    /// aside (`faultyPeers`) instead of ending the round: one bad neighbour cannot make every
    /// agent it shares with drop out. The pairwise mask with it stays, so the masks still cancel.
    public mutating func deliveryReceived(_ delivery: SecAggShareDelivery) throws(ProtocolError) {
        guard stage == .shared else { throw .secureAggregation("share delivery arrived twice or out of order") }
        guard delivery.job == job, delivery.round == round, delivery.agent == agent else {
            throw .secureAggregation("share delivery for another agent or round")
        }
        var opened = held
        var sharing: Set<String> = []
        var faulty: [String: String] = [:]
        for share in delivery.shares {
            guard let peer = neighbours[share.peer] else { throw .secureAggregation("share from \(share.peer), not a neighbour") }
            guard sharing.insert(share.peer).inserted else { throw .secureAggregation("a second share from \(share.peer) (replayed?)") }
            let key = try shareKey(peer: peer, from: share.peer, to: agent)
            guard
                let bytes = SecAggCrypto.open(
                    share.sealed, key: key, authenticating: Self.shareContext(job: job, round: round, from: share.peer, to: agent)),
                let plaintext = SecAggSharePlaintext(opened: bytes, job: job, round: round, from: share.peer, to: agent)
            else {
                faulty[share.peer] = "its share does not open for this agent and round (forged or replayed)"
                continue
            }
            guard plaintext.selfMask.y.count == SecAggCrypto.secretBytes, plaintext.maskKey.y.count == SecAggCrypto.secretBytes,
                plaintext.selfMask.x == plaintext.maskKey.x, plaintext.selfMask.x != 0
            else {
                faulty[share.peer] = "its share is not two \(SecAggCrypto.secretBytes)-byte shares at one point"
                continue
            }
            opened[share.peer] = plaintext
        }
        guard sharing.count + 1 >= threshold else {
            throw .secureAggregation("only \(sharing.count) neighbours shared; the threshold is \(threshold) with this agent's own share")
        }
        held = opened
        self.sharing = sharing
        faultyPeers = faulty
        stage = .delivered
    }

    /// The masked update: `input` (quantized, modulo 2^32) plus the self mask and the pairwise
    /// masks with every neighbour that shared.
    public mutating func maskedInput(_ input: [UInt32]) throws(ProtocolError) -> [UInt32] {
        guard stage == .delivered else { throw .secureAggregation("masking before the shares were delivered") }
        var masked = input
        Self.add(try SecAggCrypto.maskWords(seed: selfMaskSeed, count: input.count), to: &masked)
        for peer in sharing.sorted() {
            let seed = try SecAggCrypto.sharedKey(
                privateRaw: maskPrivate, publicRaw: Self.decode(neighbours[peer]!.maskKey), context: context, purpose: "fedmq secagg pairwise mask")
            let words = try SecAggCrypto.maskWords(seed: seed, count: input.count)
            if agent < peer { Self.add(words, to: &masked) } else { Self.subtract(words, from: &masked) }
        }
        stage = .masked
        return masked
    }

    /// The shares the aggregator needs to unmask the sum, once.
    public mutating func reveal(_ unmask: SecAggUnmask) throws(ProtocolError) -> SecAggReveal {
        guard stage == .masked else { throw .secureAggregation("reveal asked twice or before this agent masked its update") }
        try unmask.validate()
        guard unmask.job == job, unmask.round == round else { throw .secureAggregation("unmask request for another round") }
        guard unmask.survivors.contains(agent) else { throw .secureAggregation("this agent is not listed as a survivor") }
        let survivors = Set(unmask.survivors)
        let dropped = Set(unmask.dropped)
        // Each secret's holders are its owner's neighbours and the owner. Fewer than t of this
        // agent's holders surviving means the sum would hold too few inputs to hide this one
        // (an aggregator listing almost everyone as dropped, to each agent differently).
        let survivingHolders = sharing.union([agent]).intersection(survivors).count
        guard survivingHolders >= threshold else {
            throw .secureAggregation("only \(survivingHolders) of this agent's share holders are listed as survivors; the threshold is \(threshold)")
        }
        stage = .revealed
        return SecAggReveal(
            job: job, round: round, agent: agent,
            selfMasks: held.keys.sorted().filter(survivors.contains).map { SecAggRevealedShare(owner: $0, share: held[$0]!.selfMask) },
            maskKeys: held.keys.sorted().filter(dropped.contains).map { SecAggRevealedShare(owner: $0, share: held[$0]!.maskKey) })
    }

    // MARK: helpers shared with the server

    static func check(_ keys: SecAggKeys, job: String, round: Int, enrolled: [String: VerifyingKey]?) throws(ProtocolError) {
        guard keys.job == job, keys.round == round else {
            throw .secureAggregation("keys of \(keys.agent) are for \(keys.job) round \(keys.round), not round \(round)")
        }
        let identity = try VerifyingKey(base64: keys.identityKey)
        if let enrolled, enrolled[keys.agent] != identity {
            throw .secureAggregation("keys of \(keys.agent) are signed by a key that is not its enrolled one")
        }
        guard identity.verifies(keys.signature, for: keys.statement) else {
            throw .secureAggregation("keys of \(keys.agent) do not match their signature")
        }
        _ = try decode(keys.cipherKey)
        _ = try decode(keys.maskKey)
    }

    static func decode(_ base64: String) throws(ProtocolError) -> [UInt8] {
        guard let bytes = Data(base64Encoded: base64), bytes.count == 32 else { throw .invalidKey("an X25519 public key is the base64 of 32 bytes") }
        return Array(bytes)
    }

    static func shareContext(job: String, round: Int, from: String, to: String) -> String {
        "fedmq/v1 secagg-share\n\(job)\n\(round)\n\(from)\n\(to)"
    }

    private func shareKey(peer: SecAggKeys, from: String, to: String) throws(ProtocolError) -> [UInt8] {
        try SecAggCrypto.sharedKey(
            privateRaw: cipherPrivate, publicRaw: Self.decode(peer.cipherKey), context: context, purpose: "fedmq secagg share \(from) to \(to)")
    }

    static func add(_ words: [UInt32], to target: inout [UInt32]) {
        for index in target.indices { target[index] &+= words[index] }
    }

    static func subtract(_ words: [UInt32], from target: inout [UInt32]) {
        for index in target.indices { target[index] &-= words[index] }
    }
}
