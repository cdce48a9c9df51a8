import FedMQCore
import FedMQProtocol
import Testing

/// Ingest shards: site aggregators on the central broker that share its updates and cannot
/// know how many their share holds; they send once every online agent has served the round.
@Suite("Ingest shards")
struct IngestShardTests {
    static func central() throws -> AggregatorStateMachine {
        var policy = SiteAggregationTests.centralPolicy(quorum: 2)
        policy.sites = ["shard0", "shard1"]
        policy.ingestShards = true
        return try AggregatorStateMachine(job: Fixture.job, policy: policy, spec: Fixture.spec, initial: Fixture.initial, now: 1000)
    }

    static func shard(_ name: String) throws -> SiteStateMachine {
        var settings = SiteSettings(name: name)
        settings.ingestGroup = "ingest"
        return try SiteStateMachine(job: Fixture.job, settings: settings)
    }

    static func status(_ agent: String, served: Int, state: AgentStatus.State = .idle) -> [UInt8] {
        ProtocolJSON.encode(AgentStatus(agent: agent, state: state, lastRound: served, time: 1001))
    }

    @Test("a shard sends once every online agent has served the round, an empty partial if its share was empty; the central folds both")
    func sendsWhenAllServed() throws {
        var central = try Self.central()
        #expect(central.announcement.ingestShards == true)
        var busy = try Self.shard("shard0")
        var idle = try Self.shard("shard1")
        for shard in [0, 1] {
            var machine = shard == 0 ? busy : idle
            _ = SiteAggregationTests.follow(&machine, central)
            for agent in ["a1", "a2", "a3"] {
                #expect(machine.statusReceived(agent: agent, payload: Self.status(agent, served: 0), now: 1001).isEmpty)
            }
            // An agent out of budget is not waited for.
            _ = machine.statusReceived(agent: "a4", payload: Self.status("a4", served: 0, state: .budgetExhausted), now: 1001)
            if shard == 0 { busy = machine } else { idle = machine }
        }
        // The whole round's updates reach shard0 (the broker's choice); every agent then says it served.
        for (agent, value, examples) in SiteAggregationTests.northUpdates.map({ ($0.0.replacingOccurrences(of: "n", with: "a"), $0.1, $0.2) }) {
            #expect(
                SiteAggregationTests.partials(
                    busy.receive(agent: agent, round: 1, payload: SiteAggregationTests.update(central, agent, value, examples), now: 1002)
                ).isEmpty)
        }
        var sent: [String: (payload: [UInt8], updates: Int)] = [:]
        for agent in ["a1", "a2", "a3"] {
            let done = agent == "a3"
            let fromBusy = SiteAggregationTests.partials(busy.statusReceived(agent: agent, payload: Self.status(agent, served: 1), now: 1003))
            let fromIdle = SiteAggregationTests.partials(idle.statusReceived(agent: agent, payload: Self.status(agent, served: 1), now: 1003))
            #expect(fromBusy.isEmpty != done && fromIdle.isEmpty != done, "sent only once all three served")
            if let partial = fromBusy.first { sent["shard0"] = (partial.payload, partial.updates) }
            if let partial = fromIdle.first { sent["shard1"] = (partial.payload, partial.updates) }
        }
        #expect(sent["shard0"]?.updates == 3 && sent["shard1"]?.updates == 0)
        let file = try SafetensorsDecoder.decode(try #require(sent["shard1"]).payload)
        #expect(file.metadata[ModelCodec.Key.examples] == "0")
        #expect(central.receivePartial(site: "shard1", round: 1, payload: try #require(sent["shard1"]).payload, now: 1004).spooled == 1)
        let closing = central.receivePartial(site: "shard0", round: 1, payload: try #require(sent["shard0"]).payload, now: 1004)
        let metrics = try #require(closing.metrics)
        #expect(metrics.updates == 3 && metrics.siteUpdates == ["shard0": 3, "shard1": 0] && metrics.failure == nil)
        #expect(central.model.round == 1 && central.model.parameters != Fixture.initial)
    }

    @Test("a shard's settings that cannot apply are refused by name")
    func shardSettings() {
        var settings = SiteSettings(name: "shard0")
        settings.ingestGroup = "ingest"
        settings.targetUpdates = 5
        #expect(throws: ProtocolError.invalidConfiguration("site.target_updates does not apply to an ingest shard (ingest_group)")) {
            try settings.validate()
        }
        settings.targetUpdates = nil
        settings.ingestGroup = "in/gest"
        #expect(throws: ProtocolError.self) { try settings.validate() }
    }

    @Test("an empty partial must say so both ways; an agent's update never carries a zero weight")
    func emptyPartialsAreConsistent() throws {
        var central = try Self.central()
        let base = central.model.sha256
        let lying = ModelCodec.encodePartial(Fixture.delta(0.1), job: Fixture.job, round: 1, site: "shard0", baseSHA256: base, weight: 0, updates: 3)
        #expect(central.receivePartial(site: "shard0", round: 1, payload: lying, now: 1001).rejections == [.badMetadata])
        var flat = Fixture.machine()
        let weightless = Fixture.update(flat, agent: "a1", examples: 0)
        #expect(flat.receive(agent: "a1", round: 1, payload: weightless, now: 1001).rejections == [.badMetadata])
    }

    @Test("in a round of ingest shards an agent never sends its update twice, even after its own restart")
    func agentsNeverResendToShards() throws {
        let central = try Self.central()
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0)
        _ = agent.modelReceived(central.modelBytes, now: 1000)
        let training = agent.roundReceived(ProtocolJSON.encode(central.announcement), now: 1000)
        let base = try #require(training.lazy.compactMap { if case .train(_, let base, _) = $0 { base } else { nil } }.first)
        _ = agent.trainingFinished(round: 1, trained: base.parameters, examples: 10, now: 1001)
        let kept = try #require(agent.lastUpdate)
        // Restarted with its kept update, unsure whether the broker had it.
        var restarted = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 1, lastUpdate: kept)
        _ = restarted.modelReceived(central.modelBytes, now: 1002)
        let again = restarted.roundReceived(ProtocolJSON.encode(central.announcement), now: 1002)
        #expect(!again.contains { if case .publishUpdate = $0 { true } else { false } })
    }
}
