import FedMQCore
import FedMQProtocol
import Testing

/// Hierarchical aggregation: site aggregators fold their agents' updates into partials that
/// the central aggregator folds with the same strategy code.
@Suite("Site aggregation")
struct SiteAggregationTests {
    static let sites = ["north", "south"]

    /// A central policy over both sites: every site closes the round, one is the quorum.
    static func centralPolicy(quorum: Int = 1, privacy: ClientPrivacy? = nil) -> RoundPolicy {
        var policy = Fixture.policy
        policy.targetUpdates = sites.count
        policy.minUpdates = quorum
        policy.sites = sites
        if let privacy {
            policy.privacy = privacy
            policy.normBound = nil
        }
        return policy
    }

    static func central(_ policy: RoundPolicy = centralPolicy(), signers: [String: VerifyingKey]? = nil) throws -> AggregatorStateMachine {
        try AggregatorStateMachine(job: Fixture.job, policy: policy, spec: Fixture.spec, initial: Fixture.initial, now: 1000, signers: signers)
    }

    static func site(_ name: String, target: Int? = nil, checkpoint: SiteCheckpoint? = nil, spooled: [(agent: String, payload: [UInt8])] = [])
        throws -> SiteStateMachine
    {
        var settings = SiteSettings(name: name)
        settings.targetUpdates = target
        return try SiteStateMachine(job: Fixture.job, settings: settings, checkpoint: checkpoint, spooled: spooled)
    }

    /// Hands a site what comes down its bridge: the central aggregator's retained round and model.
    static func follow(_ site: inout SiteStateMachine, _ central: AggregatorStateMachine, received: [String]? = nil) -> [SiteAction] {
        var announcement = central.announcement
        if let received {
            announcement.received = received
            announcement.revision = (announcement.revision ?? 0) + 1
        }
        return site.modelReceived(central.modelBytes, signature: nil, now: 1001)
            + site.roundReceived(ProtocolJSON.encode(announcement), signature: nil, now: 1001)
    }

    static func partials(_ actions: [SiteAction]) -> [(round: Int, payload: [UInt8], updates: Int)] {
        actions.compactMap { if case .publishPartial(let round, _, let payload, let updates, _) = $0 { (round, payload, updates) } else { nil } }
    }

    static func rejections(_ actions: [SiteAction]) -> [RejectionReason] {
        actions.compactMap { if case .rejected(let rejection) = $0 { rejection.reason } else { nil } }
    }

    /// Agents' updates: (agent, value, examples).
    static let northUpdates: [(String, Float, Int)] = [("n1", 0.1, 10), ("n2", -0.2, 30), ("n3", 0.7, 5)]
    static let southUpdates: [(String, Float, Int)] = [("s1", 0.2, 20), ("s2", 0.5, 1)]

    static func update(_ central: AggregatorStateMachine, _ agent: String, _ value: Float, _ examples: Int) -> [UInt8] {
        Fixture.update(central, agent: agent, value: value, examples: examples)
    }

    @Test("two sites' partials fold into the model one aggregator makes of every update, and the metrics count agents' updates by site")
    func partialsMatchFlatAggregation() throws {
        var central = try Self.central()
        var flatPolicy = Fixture.policy
        flatPolicy.targetUpdates = 5
        flatPolicy.minUpdates = 5
        var flat = Fixture.machine(policy: flatPolicy)
        #expect(central.announcement.sites == Self.sites && central.announcement.weighting == .examples)

        var sent: [(site: String, payload: [UInt8], updates: Int)] = []
        for (name, updates) in [("north", Self.northUpdates), ("south", Self.southUpdates)] {
            var site = try Self.site(name, target: updates.count)
            #expect(Self.follow(&site, central).contains(.checkpoint(SiteCheckpoint(round: 1, sent: false))))
            var actions: [SiteAction] = []
            for (agent, value, examples) in updates {
                actions += site.receive(agent: agent, round: 1, payload: Self.update(central, agent, value, examples), now: 1002)
                _ = flat.receive(agent: agent, round: 1, payload: Self.update(flat, agent, value, examples), now: 1002)
            }
            let partial = try #require(Self.partials(actions).first)
            #expect(partial.round == 1 && partial.updates == updates.count)
            #expect(actions.last == .checkpoint(SiteCheckpoint(round: 1, sent: true)))
            sent.append((name, partial.payload, partial.updates))
        }
        #expect(central.receivePartial(site: "north", round: 1, payload: sent[0].payload, now: 1003).spooled == 1)
        let closing = central.receivePartial(site: "south", round: 1, payload: sent[1].payload, now: 1003)
        let metrics = try #require(closing.metrics)
        #expect(metrics.participants == ["north", "south"] && metrics.updates == 5 && metrics.examples == 66)
        #expect(metrics.siteUpdates == ["north": 3, "south": 2] && metrics.missingSites == [])
        let expected = flat.model.parameters.tensors.flatMap(\.values)
        let folded = central.model.parameters.tensors.flatMap(\.values)
        #expect(folded.count == expected.count)
        #expect(zip(folded, expected).allSatisfy { abs($0 - $1) <= 1e-6 }, "hierarchical \(folded) vs flat \(expected)")
        #expect(central.model.round == 1 && folded != Fixture.initial.tensors.flatMap(\.values))
    }

    @Test("at the deadline the round closes with the quorum of sites and names the missing one; its late partial is refused")
    func quorumOfSites() throws {
        var central = try Self.central()
        var north = try Self.site("north", target: 1)
        _ = Self.follow(&north, central)
        let actions = north.receive(agent: "n1", round: 1, payload: Self.update(central, "n1", 0.1, 10), now: 1002)
        let partial = try #require(Self.partials(actions).first)
        #expect(central.receivePartial(site: "north", round: 1, payload: partial.payload, now: 1003).metrics == nil)
        #expect(central.tick(now: 1030).metrics == nil)
        let closed = try #require(central.tick(now: 1061).metrics)
        #expect(closed.participants == ["north"] && closed.updates == 1 && closed.missingSites == ["south"])

        var ignoring = try Self.site("south")
        let flatRound = ignoring.roundReceived(ProtocolJSON.encode(Fixture.machine().announcement), signature: nil, now: 1001)
        #expect(ignoring.announcement == nil && flatRound.count == 1, "a round without sites is not followed")
        // South's agents were late: its partial of the closed round does not count.
        let late = ModelCodec.encodePartial(
            Fixture.delta(0.1), job: Fixture.job, round: 1, site: "south", baseSHA256: closed.modelSHA256, weight: 3, updates: 3)
        #expect(central.receivePartial(site: "south", round: 1, payload: late, now: 1062).rejections == [.closedRound])
    }

    @Test("the central aggregator refuses duplicate, unknown, unsigned and forged partials, and agents' updates, by name")
    func refusesBadPartials() throws {
        let keys = ["north": SigningKey(), "south": SigningKey()]
        var central = try Self.central(signers: keys.mapValues(\.publicKey))
        let base = central.model.sha256
        func partial(_ site: String, value: Float = 0.1) -> [UInt8] {
            ModelCodec.encodePartial(Fixture.delta(value), job: Fixture.job, round: 1, site: site, baseSHA256: base, weight: 4, updates: 2)
        }
        func signed(_ key: SigningKey?, _ site: String, _ payload: [UInt8]) -> String? {
            key?.sign(SignedStatement.partial(job: Fixture.job, round: 1, baseSHA256: base, site: site, payload: payload))
        }
        let north = partial("north")
        #expect(central.receivePartial(site: "north", round: 1, payload: north, now: 1001).rejections == [.unsigned])
        #expect(
            central.receivePartial(site: "north", round: 1, payload: north, signature: signed(keys["south"], "north", north), now: 1001).rejections
                == [.badSignature])
        // An agent's signature over the same bytes never passes for a site's.
        let asUpdate = keys["north"]!.sign(SignedStatement.update(job: Fixture.job, round: 1, baseSHA256: base, agent: "north", payload: north))
        #expect(central.receivePartial(site: "north", round: 1, payload: north, signature: asUpdate, now: 1001).rejections == [.badSignature])
        let stranger = partial("west")
        #expect(
            central.receivePartial(site: "west", round: 1, payload: stranger, signature: signed(SigningKey(), "west", stranger), now: 1001).rejections
                == [.senderNotAllowed])
        #expect(
            central.receivePartial(
                site: "north", round: 1, payload: partial("south"), signature: signed(keys["north"], "north", partial("south")), now: 1001
            ).rejections == [.senderMismatch])
        // An agent's update sent as a partial: its metadata names an agent, not the site.
        let update = ModelCodec.encodeUpdate(
            Fixture.delta(0.1), encoding: .float32, job: Fixture.job, round: 1, agent: "north", baseSHA256: base, examples: 4)
        #expect(
            central.receivePartial(site: "north", round: 1, payload: update, signature: signed(keys["north"], "north", update), now: 1001).rejections
                == [.senderMismatch])
        #expect(
            central.receivePartial(site: "north", round: 1, payload: north, signature: signed(keys["north"], "north", north), now: 1001).spooled == 1)
        #expect(
            central.receivePartial(site: "north", round: 1, payload: north, signature: signed(keys["north"], "north", north), now: 1002).rejections
                == [.duplicate])
        #expect(central.receive(agent: "a1", round: 1, payload: Fixture.update(central, agent: "a1"), now: 1002).rejections == [.wrongContributor])
        var flat = Fixture.machine()
        #expect(flat.receivePartial(site: "north", round: 1, payload: north, now: 1002).rejections == [.wrongContributor])
        #expect(central.acceptedAgents == ["north"])
    }

    @Test(
        "a site restarted before sending replays its spool and sends each update once; restarted after, it resends only when the central aggregator lacks its partial"
    )
    func siteResumesExactlyOnce() throws {
        var central = try Self.central()
        var site = try Self.site("north", target: 3)
        _ = Self.follow(&site, central)
        var spool: [(agent: String, payload: [UInt8])] = []
        for (agent, value, examples) in Self.northUpdates.prefix(2) {
            let payload = Self.update(central, agent, value, examples)
            let actions = site.receive(agent: agent, round: 1, payload: payload, now: 1002)
            for case .spool(_, let agent, let payload) in actions { spool.append((agent, payload)) }
        }
        #expect(spool.count == 2)
        // Killed before its partial: the restart replays the spool once the model is back.
        var restarted = try Self.site("north", target: 3, checkpoint: SiteCheckpoint(round: 1, sent: false), spooled: spool)
        let resumed = Self.follow(&restarted, central)
        #expect(Self.partials(resumed).isEmpty && !resumed.contains { if case .checkpoint = $0 { true } else { false } })
        #expect(restarted.acceptedAgents == ["n1", "n2"])
        // An agent that resends what the site already holds is refused; the missing one completes the partial.
        #expect(Self.rejections(restarted.receive(agent: "n1", round: 1, payload: spool[0].payload, now: 1003)) == [.duplicate])
        let (agent, value, examples) = Self.northUpdates[2]
        let sent = Self.partials(restarted.receive(agent: agent, round: 1, payload: Self.update(central, agent, value, examples), now: 1003))
        let partial = try #require(sent.first)
        #expect(partial.updates == 3)
        #expect(central.receivePartial(site: "north", round: 1, payload: partial.payload, now: 1004).spooled == 1)
        let spoolAll = spool + [(agent, Self.update(central, agent, value, examples))]

        // Killed after its partial was acknowledged: no second partial, unless the central
        // aggregator's republished round does not list this site.
        var afterSend = try Self.site("north", target: 3, checkpoint: SiteCheckpoint(round: 1, sent: true), spooled: spoolAll)
        #expect(Self.partials(Self.follow(&afterSend, central)).isEmpty)
        #expect(Self.partials(Self.follow(&afterSend, central, received: ["north"])).isEmpty)
        let resent = try #require(Self.partials(Self.follow(&afterSend, central, received: [])).first)
        #expect(resent.updates == 3)
        // The central aggregator already holding it counts it once.
        #expect(central.receivePartial(site: "north", round: 1, payload: resent.payload, now: 1005).rejections == [.duplicate])
        #expect(Self.rejections(afterSend.receive(agent: "n9", round: 1, payload: Self.update(central, "n9", 0.1, 1), now: 1005)) == [.closedRound])
    }

    @Test(
        "a site restarted before its partial says whose updates it holds; an agent missing from that receipt sends its kept update again, a listed one does not"
    )
    func receiptRecoversLostUpdates() throws {
        let central = try Self.central()
        var agent = try AgentStateMachine(agent: "n2", job: Fixture.job, lastServedRound: 0)
        _ = agent.modelReceived(central.modelBytes, now: 1000)
        let training = agent.roundReceived(ProtocolJSON.encode(central.announcement), now: 1000)
        let base = try #require(training.lazy.compactMap { if case .train(_, let base, _) = $0 { base } else { nil } }.first)
        var trained = base.parameters
        try trained.add(Fixture.delta(0.1))
        let sent = agent.trainingFinished(round: 1, trained: trained, examples: 10, now: 1001)
        let update = try #require(sent.lazy.compactMap { if case .publishUpdate(_, let payload, _, _) = $0 { payload } else { nil } }.first)

        // The site spooled n1's update; n2's was delivered to the killed process but never spooled.
        let spooled = [(agent: "n1", payload: Self.update(central, "n1", 0.1, 10))]
        var site = try Self.site("north", target: 2, checkpoint: SiteCheckpoint(round: 1, sent: false), spooled: spooled)
        let resumed = Self.follow(&site, central)
        let receipt = try #require(resumed.lazy.compactMap { if case .publishReceipt(let receipt) = $0 { receipt } else { nil } }.first)
        #expect(receipt == SiteReceipt(job: Fixture.job, site: "north", round: 1, received: ["n1"]))
        #expect(Self.follow(&site, central).allSatisfy { if case .publishReceipt = $0 { false } else { true } }, "said once")

        let again = agent.siteReceiptReceived(ProtocolJSON.encode(receipt), now: 1002)
        let resent = try #require(again.lazy.compactMap { if case .publishUpdate(_, let payload, _, _) = $0 { payload } else { nil } }.first)
        #expect(resent == update)
        let listed = SiteReceipt(job: Fixture.job, site: "north", round: 1, received: ["n1", "n2"])
        #expect(agent.siteReceiptReceived(ProtocolJSON.encode(listed), now: 1002).isEmpty)
        #expect(agent.siteReceiptReceived(ProtocolJSON.encode(receipt), now: 1061).isEmpty, "the round's deadline passed")
        let partial = try #require(Self.partials(site.receive(agent: "n2", round: 1, payload: resent, now: 1003)).first)
        #expect(partial.updates == 2)
    }

    @Test("a site sends at the cutoff with what it has, and waits while it has fewer than min_updates")
    func cutoffBeforeDeadline() throws {
        let central = try Self.central()
        var site = try Self.site("north")
        _ = Self.follow(&site, central)
        for agent in ["n1", "n2"] {
            let status = ProtocolJSON.encode(AgentStatus(agent: agent, state: .idle, lastRound: 0, time: 1001))
            #expect(site.statusReceived(agent: agent, payload: status, now: 1001).isEmpty)
        }
        var empty = try Self.site("north")
        _ = Self.follow(&empty, central)
        #expect(empty.tick(now: 1056).isEmpty, "no update: nothing to send at the cutoff")
        let early = site.receive(agent: "n1", round: 1, payload: Self.update(central, "n1", 0.1, 10), now: 1002)
        #expect(Self.partials(early).isEmpty, "one of two online agents is in")
        #expect(Self.partials(site.tick(now: 1054)).isEmpty, "before the cutoff (deadline 1060 - margin 5)")
        let atCutoff = try #require(Self.partials(site.tick(now: 1055)).first)
        #expect(atCutoff.updates == 1)
    }

    @Test("an update that comes before its round's model waits for it, and is validated then")
    func earlyUpdatesWait() throws {
        let central = try Self.central()
        var site = try Self.site("north", target: 2)
        #expect(site.receive(agent: "n1", round: 1, payload: Self.update(central, "n1", 0.1, 10), now: 1001).isEmpty)
        let otherBase = Fixture.update(central, agent: "n2", base: String(repeating: "0", count: 64))
        #expect(site.receive(agent: "n2", round: 1, payload: otherBase, now: 1001).isEmpty)
        let actions = Self.follow(&site, central)
        #expect(Self.rejections(actions) == [.baseMismatch])
        #expect(site.acceptedAgents == ["n1"])
    }

    @Test("policies whose aggregate has no partial, or that need each agent, are refused by name")
    func refusesNonDecomposablePolicies() {
        func refusal(_ change: (inout RoundPolicy) -> Void) -> String {
            var policy = Self.centralPolicy()
            change(&policy)
            do {
                try policy.validate()
                return ""
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal { _ in }.isEmpty)
        #expect(refusal { $0.strategy = StrategyConfig(name: "fedadam") }.isEmpty)
        #expect(refusal { $0.strategy = StrategyConfig(name: "median") }.contains("strategy 'median'"))
        #expect(refusal { $0.strategy = StrategyConfig(name: "krum", f: 0) }.contains("strategy 'krum'"))
        #expect(refusal { $0.targetUpdates = 3 }.contains("cannot exceed the 2 sites"))
        #expect(refusal { $0.sites = ["north", "north"] }.contains("distinct"))
        #expect(refusal { $0.selection = ClientSelection(count: 1) }.contains("cannot select clients"))
        #expect(refusal { $0.evaluateEvery = 1 }.contains("federated evaluation"))
        #expect(refusal { $0.mode = .asynchronous }.contains("mode 'rounds'"))
    }

    @Test("with central privacy the central aggregator adds the noise for every agent's update and says so")
    func centralPrivacyCountsAgents() throws {
        let privacy = ClientPrivacy(mode: .central, clipNorm: 1, noiseMultiplier: 1, expectedCohort: 3)
        var central = try Self.central(Self.centralPolicy(quorum: 2, privacy: privacy))
        #expect(central.announcement.weighting == .uniform)
        var updatesBySite: [String: Int] = [:]
        var metrics: RoundMetrics?
        for (name, updates) in [("north", Self.northUpdates), ("south", Self.southUpdates)] {
            var site = try Self.site(name, target: updates.count)
            _ = Self.follow(&site, central)
            var actions: [SiteAction] = []
            for (agent, value, examples) in updates {
                actions += site.receive(agent: agent, round: 1, payload: Self.update(central, agent, value / 10, examples), now: 1002)
            }
            let partial = try #require(Self.partials(actions).first)
            updatesBySite[name] = partial.updates
            metrics = central.receivePartial(site: name, round: 1, payload: partial.payload, now: 1003).metrics ?? metrics
        }
        let closed = try #require(metrics)
        #expect(closed.updates == 5 && closed.examples == 5, "uniform weighting: each site weighs its count of updates")
        #expect(closed.noiseAddedBy == "aggregator" && closed.siteUpdates == updatesBySite)
        #expect(closed.epsilon != nil)
    }
}
