import FedMQCore
import Testing

@testable import FedMQProtocol

/// An aggregator that lies: it crafts rosters and unmask requests to rebuild one agent's
/// input, against honest agents' real state machines. In no attack may it rebuild any input.
@Suite("Secure aggregation against a malicious aggregator")
struct MaliciousAggregatorTests {
    static let job = "job1"
    static let round = 3
    static let dimension = 16

    /// Honest agents with real keys, and what the attacker has collected from them.
    struct Fleet {
        var clients: [String: SecAggClient]
        let identities: [String: SigningKey]
        let inputs: [String: [UInt32]]

        init(count: Int) throws {
            var random = SplitMix64(seed: 5)
            let names = (0..<count).map { "a\($0)" }
            let identities = Dictionary(uniqueKeysWithValues: names.map { ($0, SigningKey()) })
            self.identities = identities
            clients = try Dictionary(
                uniqueKeysWithValues: names.map { name in
                    (
                        name,
                        try SecAggClient(
                            agent: name, job: MaliciousAggregatorTests.job, round: MaliciousAggregatorTests.round, identity: identities[name]!,
                            using: &random)
                    )
                })
            inputs = Dictionary(
                uniqueKeysWithValues: names.map { name in
                    (name, (0..<MaliciousAggregatorTests.dimension).map { _ in UInt32.random(in: 0...1000, using: &random) })
                })
        }

        var names: [String] { clients.keys.sorted() }
        var requirements: SecAggRequirements {
            SecAggRequirements(enrolled: identities.mapValues(\.publicKey), dropoutRate: 0.1, corruptionRate: 0.1)
        }

        func roster(for agent: String, cohort: Int, threshold: Int, neighbours: [SecAggKeys]) -> SecAggRoster {
            SecAggRoster(
                job: job, round: round, agent: agent, cohort: cohort, threshold: threshold, neighbours: neighbours,
                keysSHA256: clients[agent]!.keys.fingerprint)
        }
    }

    @Test(
        "a roster too small, with a threshold below the minimum, or with unenrolled keys is refused before any secret is shared",
        arguments: [
            "no neighbours, t = 1", "no neighbours, cohort 2", "one neighbour", "t below the minimum", "unenrolled name",
            "fresh keys under an enrolled name",
        ])
    func craftedRosters(attack: String) throws {
        let fleet = try Fleet(count: 6)
        var random = SplitMix64(seed: 9)
        let victim = "a0"
        let others = fleet.names.filter { $0 != victim }.map { fleet.clients[$0]!.keys }
        let roster: SecAggRoster
        switch attack {
        case "no neighbours, t = 1":
            roster = fleet.roster(for: victim, cohort: 6, threshold: 1, neighbours: [])
        case "no neighbours, cohort 2":
            roster = fleet.roster(for: victim, cohort: 2, threshold: 1, neighbours: [])
        case "one neighbour":
            roster = fleet.roster(for: victim, cohort: 6, threshold: 2, neighbours: [others[0]])
        case "t below the minimum":
            roster = fleet.roster(for: victim, cohort: 6, threshold: 3, neighbours: others)
        case "unenrolled name":
            let stranger = try SecAggClient(agent: "mallory", job: Self.job, round: Self.round, identity: SigningKey(), using: &random)
            roster = fleet.roster(for: victim, cohort: 6, threshold: 4, neighbours: Array(others.prefix(4)) + [stranger.keys])
        default:
            let impostor = try SecAggClient(agent: "a5", job: Self.job, round: Self.round, identity: SigningKey(), using: &random)
            roster = fleet.roster(for: victim, cohort: 6, threshold: 4, neighbours: Array(others.prefix(4)) + [impostor.keys])
        }
        var client = fleet.clients[victim]!
        let requirements = fleet.requirements
        #expect(throws: ProtocolError.self, "\(attack)") { try client.rosterReceived(roster, requirements: requirements, using: &random) }
        #expect(client.stage == .advertised, "no share left the agent")
    }

    @Test("the smallest k and t an agent accepts follow the aggregator's own rule, with the owner's floors")
    func derivedMinimum() throws {
        let requirements = SecAggRequirements(enrolled: [:], minimumCohort: 3, dropoutRate: 0.1, corruptionRate: 0.1)
        #expect(try requirements.minimumGraph(cohort: 6) == (5, 4))
        let (k, t) = try SecAggGraph.parameters(cohort: 500, dropout: 0.1, corruption: 0.1)
        #expect(try requirements.minimumGraph(cohort: 500) == (k, t))
        #expect(throws: ProtocolError.self) { try requirements.minimumGraph(cohort: 2) }
        // An announcement that lowers the rates cannot go below the owner's floors.
        var policy = AgentPrivacyPolicy()
        policy.minCorruptionRate = 0.2
        let announced = SecureAggregationSettings(dropoutRate: 0, corruptionRate: 0, quantization: SecAggQuantization(clip: 1, scale: 1))
        let floored = policy.secureRequirements(announced, enrolled: [:])
        #expect(floored.corruptionRate == 0.2)
        #expect(try floored.minimumGraph(cohort: 500).degree > (try SecAggGraph.parameters(cohort: 500, dropout: 0, corruption: 0).degree))
    }

    /// Runs an honest share stage for every agent, every agent masks its input, then each agent
    /// gets the unmask request `lists` makes for it. Returns what the attacker could rebuild.
    func attack(_ count: Int, lists: (String, [String]) -> SecAggUnmask) throws -> [String: [UInt32]] {
        var fleet = try Fleet(count: count)
        var random = SplitMix64(seed: 9)
        let names = fleet.names
        var server = SecAggServer(
            job: Self.job, round: Self.round, dimension: Self.dimension, cohort: Set(names), enrolled: fleet.identities.mapValues(\.publicKey),
            dropout: 0.1, corruption: 0.1, seed: 3)
        for name in names { try server.keysReceived(from: name, fleet.clients[name]!.keys) }
        let requirements = fleet.requirements
        for roster in try server.closeKeys() {
            try server.sharesReceived(
                from: roster.agent, fleet.clients[roster.agent]!.rosterReceived(roster, requirements: requirements, using: &random))
        }
        for delivery in try server.closeShares() { try fleet.clients[delivery.agent]!.deliveryReceived(delivery) }
        var masked: [String: [UInt32]] = [:]
        for name in names { masked[name] = try fleet.clients[name]!.maskedInput(fleet.inputs[name]!) }
        var reveals: [SecAggReveal] = []
        for name in names {
            if let reveal = try? fleet.clients[name]!.reveal(lists(name, names)) { reveals.append(reveal) }
        }
        let graph = try #require(server.graph)
        var rebuilt: [String: [UInt32]] = [:]
        for victim in names {
            if let input = try? Self.unmask(victim, masked: masked[victim]!, reveals: reveals, fleet: fleet, graph: graph) {
                #expect(input == fleet.inputs[victim], "a rebuilt input is the real one")
                rebuilt[victim] = input
            }
        }
        return rebuilt
    }

    /// The attacker's best try at one input: the self-mask seed from t revealed shares, and each
    /// pairwise mask from the victim's or the partner's rebuilt mask key.
    static func unmask(_ victim: String, masked: [UInt32], reveals: [SecAggReveal], fleet: Fleet, graph: SecAggGraph) throws -> [UInt32] {
        func secret(of owner: String, _ kind: KeyPath<SecAggReveal, [SecAggRevealedShare]>) throws -> [UInt8] {
            let shares = reveals.compactMap { $0[keyPath: kind].first { $0.owner == owner }?.share }
            guard shares.count >= graph.threshold else { throw ProtocolError.secureAggregation("too few shares of \(owner)") }
            return try ShamirSharing.combine(Array(shares.prefix(graph.threshold)))
        }
        var input = masked
        SecAggClient.subtract(try SecAggCrypto.maskWords(seed: secret(of: victim, \.selfMasks), count: dimension), from: &input)
        let context = "\(job)\n\(round)"
        let victimKey = try? secret(of: victim, \.maskKeys)
        for partner in graph.neighbours[victim] ?? [] {
            let seed: [UInt8]
            if let victimKey {
                seed = try SecAggCrypto.sharedKey(
                    privateRaw: victimKey, publicRaw: SecAggClient.decode(fleet.clients[partner]!.keys.maskKey), context: context,
                    purpose: "fedmq secagg pairwise mask")
            } else {
                seed = try SecAggCrypto.sharedKey(
                    privateRaw: try secret(of: partner, \.maskKeys), publicRaw: SecAggClient.decode(fleet.clients[victim]!.keys.maskKey),
                    context: context, purpose: "fedmq secagg pairwise mask")
            }
            let words = try SecAggCrypto.maskWords(seed: seed, count: dimension)
            if victim < partner { SecAggClient.subtract(words, from: &input) } else { SecAggClient.add(words, to: &input) }
        }
        return input
    }

    @Test("each agent told that only it and the victim survived: the agents refuse to reveal, nothing is rebuilt")
    func pairLists() throws {
        let rebuilt = try attack(6) { agent, names in
            SecAggUnmask(
                job: Self.job, round: Self.round, survivors: Array(Set([agent, "a0"])).sorted(), dropped: names.filter { $0 != agent && $0 != "a0" })
        }
        #expect(rebuilt.isEmpty, "rebuilt \(rebuilt.keys.sorted())")
    }

    @Test("a survivor list that differs between agents (sliding windows of t survivors): no input is rebuilt")
    func slidingWindows() throws {
        let rebuilt = try attack(6) { agent, names in
            // The victim a0 survives in every list; t - 1 = 3 others, a window starting at the agent.
            let others = names.filter { $0 != "a0" }
            let start = others.firstIndex(of: agent) ?? 0
            let window = (0..<3).map { others[(start + $0) % others.count] }
            let survivors = (["a0"] + window).sorted()
            return SecAggUnmask(job: Self.job, round: Self.round, survivors: survivors, dropped: names.filter { !survivors.contains($0) })
        }
        #expect(rebuilt.isEmpty, "rebuilt \(rebuilt.keys.sorted())")
    }

    @Test("one consistent list with the victim as the only survivor: the victim refuses, nothing is rebuilt")
    func loneSurvivor() throws {
        let rebuilt = try attack(6) { _, names in
            SecAggUnmask(job: Self.job, round: Self.round, survivors: ["a0"], dropped: names.filter { $0 != "a0" })
        }
        #expect(rebuilt.isEmpty)
    }

    @Test("an agent takes no part in a secure round without the aggregator's key and the enrolment, and ignores an unsigned roster")
    func signedRostersOnly() throws {
        let identity = SigningKey()
        let aggregator = SigningKey()
        var policy = Fixture.policy
        policy.normBound = nil
        policy.weighting = .uniform
        policy.secureAggregation = SecureAggregationSettings(quantization: SecAggQuantization(clip: 1, scale: 65536))
        let machine = try AggregatorStateMachine(
            job: Fixture.job, policy: policy, spec: Fixture.spec, initial: Fixture.initial, now: 1000, signers: ["a1": identity.publicKey])
        let model = machine.modelBytes
        let round = ProtocolJSON.encode(machine.announcement)
        // No aggregator key: the secure round is refused, no keys are published.
        var unkeyed = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0, identity: identity)
        _ = unkeyed.modelReceived(model, now: 1001)
        let actions = unkeyed.roundReceived(round, now: 1001)
        #expect(actions.contains { if case .refused(1, _) = $0 { true } else { false } }, "\(actions)")
        #expect(!actions.contains { if case .publishSecAgg = $0 { true } else { false } })
        // With both, the agent takes part; an unsigned roster is ignored, and does not stop the signed one.
        var agent = try AgentStateMachine(
            agent: "a1", job: Fixture.job, lastServedRound: 0, identity: identity, aggregatorKey: aggregator.publicKey,
            enrolment: ["a1": identity.publicKey])
        _ = agent.modelReceived(model, signature: aggregator.sign(SignedStatement.model(job: Fixture.job, payload: model)), now: 1001)
        let started = agent.roundReceived(
            round, signature: aggregator.sign(SignedStatement.announcement(job: Fixture.job, payload: round)), now: 1001)
        #expect(started.contains { if case .publishSecAgg = $0 { true } else { false } })
        let roster = Array("{}".utf8)
        let unsigned = agent.secAggReceived(kind: "roster", round: 1, payload: roster, signature: nil, now: 1002)
        #expect(unsigned.count == 1 && unsigned.allSatisfy { if case .ignored(let why) = $0 { why.contains("not signed") } else { false } })
        let signed = agent.secAggReceived(
            kind: "roster", round: 1, payload: roster,
            signature: aggregator.sign(SignedStatement.secAgg("roster", job: Fixture.job, round: 1, payload: roster)),
            now: 1002)
        // The signed copy is handled (and, being no roster, refused), not skipped as already seen.
        #expect(signed.contains { if case .refused(1, _) = $0 { true } else { false } }, "\(signed)")
    }
}
