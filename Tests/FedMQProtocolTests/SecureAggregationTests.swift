import FedMQCore
import Foundation
import Testing

@testable import FedMQProtocol

/// Secure aggregation run in memory: real keys, shares, ciphers and masks; messages handed
/// between the agents' and the aggregator's state machines directly.
@Suite("Secure aggregation (SecAgg+) state machines")
struct SecureAggregationTests {
    struct Round {
        var server: SecAggServer
        var clients: [String: SecAggClient]
        var inputs: [String: [UInt32]]
        var maskedSent: [String: [UInt32]] = [:]
    }

    static func names(_ count: Int) -> [String] { (0..<count).map { String(format: "a%03d", $0) } }

    /// Advertises, rosters and shares for `count` agents with `dimension`-word inputs.
    /// - Parameter selfMaskSeeds: seeds for agents that play malicious (any length).
    func shared(
        count: Int, dimension: Int = 64, dropout: Double = 0.3, corruption: Double = 0.1, seed: UInt64 = 1, selfMaskSeeds: [String: [UInt8]] = [:]
    ) throws -> Round {
        var random = SplitMix64(seed: seed)
        let identities = Dictionary(uniqueKeysWithValues: Self.names(count).map { ($0, SigningKey()) })
        var server = SecAggServer(
            job: "job1", round: 3, dimension: dimension, cohort: Set(identities.keys), enrolled: identities.mapValues(\.publicKey),
            dropout: dropout, corruption: corruption, seed: seed)
        var clients: [String: SecAggClient] = [:]
        for (name, identity) in identities {
            let client =
                try selfMaskSeeds[name].map { try SecAggClient(agent: name, job: "job1", round: 3, identity: identity, selfMaskSeed: $0) }
                ?? SecAggClient(agent: name, job: "job1", round: 3, identity: identity, using: &random)
            try server.keysReceived(from: name, client.keys)
            clients[name] = client
        }
        let requirements = SecAggRequirements(
            enrolled: identities.mapValues(\.publicKey), minimumCohort: 2, dropoutRate: dropout, corruptionRate: corruption)
        for roster in try server.closeKeys() {
            let shares = try clients[roster.agent]!.rosterReceived(roster, requirements: requirements, using: &random)
            try server.sharesReceived(from: roster.agent, shares)
        }
        let inputs = Dictionary(
            uniqueKeysWithValues: identities.keys.map { name in
                (name, (0..<dimension).map { _ in UInt32(truncatingIfNeeded: Int32.random(in: -1000...1000, using: &random)) })
            })
        return Round(server: server, clients: clients, inputs: inputs)
    }

    /// Delivers shares, masks (all but `dropping`), unmasks and returns the sum.
    func finish(_ round: inout Round, dropping: Set<String>) throws -> (sum: [UInt32], survivors: [String]) {
        for delivery in try round.server.closeShares() {
            try round.clients[delivery.agent]!.deliveryReceived(delivery)
        }
        for name in round.clients.keys.sorted() where !dropping.contains(name) {
            let masked = try round.clients[name]!.maskedInput(round.inputs[name]!)
            round.maskedSent[name] = masked
            try round.server.maskedReceived(from: name, masked)
        }
        let unmask = try round.server.closeMasking()
        for name in unmask.survivors {
            try round.server.revealReceived(from: name, try round.clients[name]!.reveal(unmask))
        }
        return try round.server.finish()
    }

    func plainSum(_ inputs: [[UInt32]], dimension: Int) -> [UInt32] {
        inputs.reduce(into: [UInt32](repeating: 0, count: dimension)) { sum, input in SecAggClient.add(input, to: &sum) }
    }

    @Test(
        "the unmasked sum equals the plain sum of the survivors' inputs exactly",
        // 50 agents (and their dropouts) run over a real broker in the integration tests; in
        // memory, 20 keep this suite from holding the test process's threads for long.
        arguments: [(3, 0), (3, 1), (10, 0), (10, 1), (10, 3), (20, 0), (20, 6)])
    func exactSum(cohort: Int, drops: Int) throws {
        var round = try shared(count: cohort)
        let dropping = Set(Self.names(cohort).suffix(drops))
        let (sum, survivors) = try finish(&round, dropping: dropping)
        #expect(survivors == Self.names(cohort).filter { !dropping.contains($0) })
        #expect(sum == plainSum(survivors.map { round.inputs[$0]! }, dimension: 64))
    }

    @Test("a large cohort uses a sparse k-regular graph, and its sum is still exact with dropouts")
    func sparseGraph() throws {
        var round = try shared(count: 60, dropout: 0.05, corruption: 0.05)
        let graph = try #require(round.server.graph)
        #expect(graph.degree < 59)
        #expect(graph.threshold == (graph.degree + 1) / 2 + 1)
        for (agent, neighbours) in graph.neighbours {
            #expect(neighbours.count == graph.degree)
            #expect(neighbours.allSatisfy { graph.neighbours[$0]!.contains(agent) })
        }
        let dropping: Set = ["a007", "a031"]
        let (sum, survivors) = try finish(&round, dropping: dropping)
        #expect(sum == plainSum(survivors.map { round.inputs[$0]! }, dimension: 64))
    }

    @Test("k and t: complete up to 32 agents; above, t > k/2 and both failure odds below 2^-20")
    func parameters() throws {
        #expect(try SecAggGraph.parameters(cohort: 10, dropout: 0.3, corruption: 0.1) == (9, 6))
        let (k, t) = try SecAggGraph.parameters(cohort: 1000, dropout: 0.1, corruption: 0.1)
        #expect(k % 2 == 0 && k < 254 && t == (k + 1) / 2 + 1)
        #expect(SecAggGraph.binomialTail(trials: k, probability: 0.9, below: t) < 0x1p-20)
        #expect(1 - SecAggGraph.binomialTail(trials: k, probability: 0.1, below: t) < 0x1p-20)
        // k - 2 would not do: the rule picks the smallest.
        let smaller = k - 2
        #expect(
            SecAggGraph.binomialTail(trials: smaller, probability: 0.9, below: (smaller + 1) / 2 + 1) >= 0x1p-20
                || 1 - SecAggGraph.binomialTail(trials: smaller, probability: 0.1, below: (smaller + 1) / 2 + 1) >= 0x1p-20)
    }

    @Test("a masked update looks uniform (chi-square over 16 bins), and matches no input word pattern")
    func maskedLooksUniform() throws {
        var round = try shared(count: 5, dimension: 8192)
        _ = try finish(&round, dropping: [])
        for (name, masked) in round.maskedSent {
            var bins = [Int](repeating: 0, count: 16)
            for word in masked { bins[Int(word >> 28)] += 1 }
            let expected = Double(masked.count) / 16
            let chiSquare = bins.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
            // 15 degrees of freedom. The masks come from fresh X25519 keys, so the statistic is
            // random: a uniform mask exceeds 94 with probability below 1e-12 (the 0.999 quantile,
            // 37.7, failed about one run in 200 with five agents), while unmasked words,
            // all in two bins, score about 57,000.
            #expect(chiSquare < 94, "\(name): chi-square \(chiSquare)")
            // The inputs are small numbers (top 4 bits 0000 or 1111 only); masked words are spread.
            let input = round.inputs[name]!
            #expect(zip(masked, input).filter { $0 == $1 }.count < 5)
        }
    }

    @Test("Shamir: any t shares give the secret back, t - 1 do not")
    func shamir() throws {
        var random = SplitMix64(seed: 9)
        let secret = SecAggCrypto.randomBytes(32, using: &random)
        let shares = try ShamirSharing.split(secret, threshold: 4, points: Array(1...7), using: &random)
        #expect(try ShamirSharing.combine(Array(shares.prefix(4))) == secret)
        #expect(try ShamirSharing.combine([shares[6], shares[2], shares[5], shares[0]]) == secret)
        #expect(try ShamirSharing.combine(shares) == secret)
        #expect(try ShamirSharing.combine(Array(shares.prefix(3))) != secret)
        #expect(throws: ProtocolError.self) { try ShamirSharing.combine([shares[0], shares[0]]) }
    }

    @Test("a roster entry whose keys were changed, or signed by an unenrolled key, is refused")
    func forgedRosterEntry() throws {
        var random = SplitMix64(seed: 4)
        let names = Self.names(3)
        let identities = Dictionary(uniqueKeysWithValues: names.map { ($0, SigningKey()) })
        let clients = try names.map { try SecAggClient(agent: $0, job: "job1", round: 3, identity: identities[$0]!, using: &random) }
        let requirements = SecAggRequirements(enrolled: identities.mapValues(\.publicKey), dropoutRate: 0.1, corruptionRate: 0.1)
        var forged = clients[1].keys
        forged.maskKey = clients[2].keys.maskKey
        var victim = clients[0]
        let roster = SecAggRoster(
            job: "job1", round: 3, agent: names[0], cohort: 3, threshold: 2, neighbours: [forged, clients[2].keys],
            keysSHA256: victim.keys.fingerprint)
        #expect(throws: ProtocolError.secureAggregation("keys of a001 do not match their signature")) {
            try victim.rosterReceived(roster, requirements: requirements, using: &random)
        }
        let impostor = try SecAggClient(agent: names[1], job: "job1", round: 3, identity: SigningKey(), using: &random)
        let swapped = SecAggRoster(
            job: "job1", round: 3, agent: names[0], cohort: 3, threshold: 2, neighbours: [impostor.keys, clients[2].keys],
            keysSHA256: victim.keys.fingerprint)
        #expect(throws: ProtocolError.secureAggregation("keys of a001 are signed by a key that is not its enrolled one")) {
            try victim.rosterReceived(swapped, requirements: requirements, using: &random)
        }
        // An agent that restarted within the round has new keys: the roster made for its old ones is refused.
        var restarted = try SecAggClient(agent: names[0], job: "job1", round: 3, identity: identities[names[0]]!, using: &random)
        let honest = SecAggRoster(
            job: "job1", round: 3, agent: names[0], cohort: 3, threshold: 2, neighbours: [clients[1].keys, clients[2].keys],
            keysSHA256: victim.keys.fingerprint)
        #expect(
            throws: ProtocolError.secureAggregation(
                "the roster was made for other keys of this agent (it restarted within the round); sitting this round out")
        ) {
            try restarted.rosterReceived(honest, requirements: requirements, using: &random)
        }
        #expect(throws: Never.self) { try victim.rosterReceived(honest, requirements: requirements, using: &random) }
        // The server refuses the impostor's keys too.
        var server = SecAggServer(
            job: "job1", round: 3, dimension: 4, cohort: Set(names), enrolled: identities.mapValues(\.publicKey), dropout: 0.1, corruption: 0.1,
            seed: 1)
        #expect(throws: ProtocolError.self) { try server.keysReceived(from: names[1], impostor.keys) }
    }

    @Test("a doubled share stops the agent; a share from another round or for another receiver only sets that neighbour aside")
    func replayedShares() throws {
        var round = try shared(count: 3)
        let deliveries = try round.server.closeShares()
        let delivery = deliveries.first { $0.agent == "a000" }!
        var doubled = delivery
        doubled.shares.append(delivery.shares[0])
        var client = round.clients["a000"]!
        #expect(throws: ProtocolError.secureAggregation("a second share from \(delivery.shares[0].peer) (replayed?)")) {
            try client.deliveryReceived(doubled)
        }
        // The same agents' shares from round 3 replayed into round 4 do not open.
        var next = try shared(count: 3, seed: 2)
        let later = try next.server.closeShares().first { $0.agent == "a000" }!
        var replayed = later
        replayed.shares[0].sealed = delivery.shares.first { $0.peer == later.shares[0].peer }!.sealed
        var nextClient = next.clients["a000"]!
        try nextClient.deliveryReceived(replayed)
        #expect(nextClient.faultyPeers.keys.sorted() == [later.shares[0].peer])
        // A share sealed for another receiver does not open either.
        var misrouted = delivery
        misrouted.shares[0].sealed = deliveries.first { $0.agent == "a002" }!.shares.first { $0.peer == "a001" }!.sealed
        try client.deliveryReceived(misrouted)
        #expect(client.faultyPeers == ["a001": "its share does not open for this agent and round (forged or replayed)"])
    }

    @Test("a share is sealed as 65 bytes (point and two secrets); the JSON form of earlier versions still opens, bound to its names")
    func sealedForm() throws {
        var round = try shared(count: 3)
        let delivery = try round.server.closeShares().first { $0.agent == "a000" }!
        #expect(delivery.shares.allSatisfy { Data(base64Encoded: $0.sealed)?.count == 12 + 65 + 16 })
        var client = round.clients["a000"]!
        try client.deliveryReceived(delivery)
        #expect(client.faultyPeers.isEmpty)

        let share = SecAggSharePlaintext(
            job: "job1", round: 3, from: "a001", to: "a000", selfMask: .init(x: 2, y: Array(repeating: 7, count: 32)),
            maskKey: .init(x: 2, y: Array(repeating: 9, count: 32)))
        #expect(share.sealedForm.count == 65)
        #expect(SecAggSharePlaintext(opened: share.sealedForm, job: "job1", round: 3, from: "a001", to: "a000") == share)
        let legacy = ProtocolJSON.encode(share)
        #expect(SecAggSharePlaintext(opened: legacy, job: "job1", round: 3, from: "a001", to: "a000") == share)
        #expect(SecAggSharePlaintext(opened: legacy, job: "job1", round: 4, from: "a001", to: "a000") == nil)
        #expect(SecAggSharePlaintext(opened: legacy, job: "job1", round: 3, from: "a002", to: "a000") == nil)
        #expect(SecAggSharePlaintext(opened: Array(share.sealedForm.dropLast()), job: "job1", round: 3, from: "a001", to: "a000") == nil)
    }

    @Test("the aggregator never gets both secrets of one agent: reveals are checked, and given once")
    func neverBoth() throws {
        var round = try shared(count: 4)
        for delivery in try round.server.closeShares() { try round.clients[delivery.agent]!.deliveryReceived(delivery) }
        for name in ["a000", "a001", "a002"] {
            try round.server.maskedReceived(from: name, try round.clients[name]!.maskedInput(round.inputs[name]!))
        }
        let unmask = try round.server.closeMasking()
        #expect(unmask.dropped == ["a003"])
        var client = round.clients["a000"]!
        let reveal = try client.reveal(unmask)
        #expect(reveal.selfMasks.map(\.owner) == ["a000", "a001", "a002"])
        #expect(reveal.maskKeys.map(\.owner) == ["a003"])
        #expect(throws: ProtocolError.self) { try client.reveal(unmask) }
        // A reveal that hands over a survivor's mask key is refused.
        var greedy = reveal
        greedy.maskKeys.append(SecAggRevealedShare(owner: "a001", share: reveal.selfMasks[0].share))
        #expect(throws: ProtocolError.self) { try round.server.revealReceived(from: "a000", greedy) }
        // An unmask request naming an agent as both is refused by the agents.
        var both = unmask
        both.dropped.append("a001")
        var other = round.clients["a001"]!
        #expect(throws: ProtocolError.self) { try other.reveal(both) }
    }

    @Test("a committed self-mask seed of the wrong length: its shares are set aside and refused, the round fails without a crash")
    func wrongSeedLength() throws {
        var round = try shared(count: 4, selfMaskSeeds: ["a003": [UInt8](repeating: 7, count: 31)])
        for delivery in try round.server.closeShares() { try round.clients[delivery.agent]!.deliveryReceived(delivery) }
        #expect(round.clients["a000"]!.faultyPeers.keys.sorted() == ["a003"])
        // Honest code cannot even mask with such a seed; the malicious agent sends words of its own.
        #expect(throws: ProtocolError.self) { try round.clients["a003"]!.maskedInput(round.inputs["a003"]!) }
        for name in ["a000", "a001", "a002"] {
            try round.server.maskedReceived(from: name, try round.clients[name]!.maskedInput(round.inputs[name]!))
        }
        try round.server.maskedReceived(from: "a003", round.inputs["a003"]!)
        let unmask = try round.server.closeMasking()
        for name in ["a000", "a001", "a002"] { try round.server.revealReceived(from: name, try round.clients[name]!.reveal(unmask)) }
        // Its own reveal carries its 31-byte share: refused by length.
        let ownShare = SecAggRevealedShare(owner: "a003", share: ShamirSharing.Share(x: 4, y: [UInt8](repeating: 7, count: 31)))
        let cheatReveal = SecAggReveal(job: "job1", round: 3, agent: "a003", selfMasks: [ownShare], maskKeys: [])
        #expect(throws: ProtocolError.self) { try round.server.revealReceived(from: "a003", cheatReveal) }
        #expect(!round.server.canFinish)
        #expect(throws: ProtocolError.self) { try round.server.finish() }
    }

    @Test("a revealed share at another holder's point is refused; a wrong share at its own point is outvoted by other subsets")
    func dishonestRevealer() throws {
        var round = try shared(count: 5)
        for delivery in try round.server.closeShares() { try round.clients[delivery.agent]!.deliveryReceived(delivery) }
        for name in round.clients.keys.sorted() {
            try round.server.maskedReceived(from: name, try round.clients[name]!.maskedInput(round.inputs[name]!))
        }
        let unmask = try round.server.closeMasking()
        var reveals = try Dictionary(uniqueKeysWithValues: unmask.survivors.map { ($0, try round.clients[$0]!.reveal(unmask)) })
        var moved = reveals["a000"]!
        moved.selfMasks[1].share.x &+= 1
        #expect(throws: ProtocolError.self) { try round.server.revealReceived(from: "a000", moved) }
        // a000 lies about its share of a001's seed: the first subset of t fails the commitment, another does not.
        reveals["a000"]!.selfMasks[1].share.y[0] ^= 0xff
        #expect(reveals["a000"]!.selfMasks[1].owner == "a001")
        for name in unmask.survivors { try round.server.revealReceived(from: name, reveals[name]!) }
        let (sum, survivors) = try round.server.finish()
        #expect(sum == plainSum(survivors.map { round.inputs[$0]! }, dimension: 64))
    }

    @Test("subsets of t are enumerated in order, each once")
    func subsets() {
        var seen: [[Int]] = []
        SecAggServer.forEachSubset(of: 4, size: 2) {
            seen.append($0)
            return true
        }
        #expect(seen == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])
    }

    @Test("too few survivors fail the round cleanly")
    func tooFewSurvivors() throws {
        var round = try shared(count: 5)
        for delivery in try round.server.closeShares() { try round.clients[delivery.agent]!.deliveryReceived(delivery) }
        for name in ["a000", "a001"] {
            try round.server.maskedReceived(from: name, try round.clients[name]!.maskedInput(round.inputs[name]!))
        }
        #expect(throws: ProtocolError.secureAggregation("only 2 agents sent a masked update; the round needs at least the threshold t = 3")) {
            try round.server.closeMasking()
        }
    }

    @Test("quantization: the decoded mean of a sum is the mean of the deltas within a step")
    func quantization() throws {
        let quantization = SecAggQuantization(clip: 1, scale: 65536)
        let model = try Parameters([Tensor(name: "w", shape: [3], values: [0, 0, 0])])
        var random = SplitMix64(seed: 3)
        let deltas = try [[0.5, -0.25, 2], [0.1, 0.2, -0.3]].map { try Parameters([Tensor(name: "w", shape: [3], values: $0.map(Float.init))]) }
        var sum = [UInt32](repeating: 0, count: 3)
        for delta in deltas { SecAggClient.add(quantization.encode(delta, using: &random), to: &sum) }
        let mean = try quantization.decodeMean(sum, count: 2, like: model)
        // 2 is clipped to 1.
        for (value, expected) in zip(mean.tensors[0].values, [0.3, -0.025, 0.35]) {
            #expect(abs(Double(value) - expected) <= 1.0 / 65536)
        }
        #expect(throws: ProtocolError.self) { try quantization.validate(cohort: 1 << 15) }
    }
}
