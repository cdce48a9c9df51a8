import FedMQCore
import FedMQProtocol
import Testing

@Suite("Client selection")
struct ClientSelectionTests {
    let selection = ClientSelection(fraction: 0.5, seed: 7)
    var policy: RoundPolicy {
        var policy = Fixture.policy
        policy.selection = selection
        return policy
    }

    func status(_ agent: String, _ state: AgentStatus.State = .idle) -> [UInt8] {
        ProtocolJSON.encode(AgentStatus(agent: agent, state: state, lastRound: 0, time: 1000))
    }

    @Test("picks are seeded, sized by fraction or count, never below the quorum, and differ between rounds")
    func picks() {
        let agents = Set((0..<10).map { "a\($0)" })
        let first = selection.pick(from: agents, round: 1, minimum: 2)
        #expect(first.count == 5)
        #expect(first == selection.pick(from: agents, round: 1, minimum: 2))
        #expect(first == first.sorted() && Set(first).isSubset(of: agents))
        #expect((2...6).map { selection.pick(from: agents, round: $0, minimum: 2) }.contains { $0 != first })
        #expect(ClientSelection(count: 3).pick(from: agents, round: 1, minimum: 2).count == 3)
        #expect(ClientSelection(count: 1).pick(from: agents, round: 1, minimum: 2).count == 2)
        #expect(ClientSelection(count: 30).pick(from: agents, round: 1, minimum: 2).count == 10)
        #expect(throws: ProtocolError.self) { try ClientSelection(count: 2, fraction: 0.5).validate() }
    }

    @Test("a round is drawn from the agents online, names them, refuses the others' updates and reports stragglers")
    func rounds() throws {
        var machine = Fixture.machine(policy: policy)
        #expect(machine.announcement.selected == [])
        var republished: [RoundAnnouncement] = []
        for index in 0..<6 {
            for case .publishRound(let round) in machine.statusReceived(agent: "a\(index)", payload: status("a\(index)"), now: 1001) {
                republished.append(round)
            }
        }
        let picked = selection.pick(from: Set((0..<6).map { "a\($0)" }), round: 1, minimum: 2)
        #expect(picked.count == 3)
        #expect(machine.announcement.selected == picked)
        #expect(republished.last?.selected == picked)
        // An agent that was not picked stays idle, and its update is refused.
        let outsider = try #require((0..<6).map { "a\($0)" }.first { !picked.contains($0) })
        var idle = try AgentStateMachine(agent: outsider, job: Fixture.job, lastServedRound: 0)
        _ = idle.modelReceived(machine.modelBytes, now: 1001)
        #expect(!idle.roundReceived(ProtocolJSON.encode(machine.announcement), now: 1001).contains { if case .train = $0 { true } else { false } })
        #expect(machine.receive(agent: outsider, round: 1, payload: Fixture.update(machine, agent: outsider), now: 1002).rejections == [.notSelected])
        // Two of the three selected send; at the deadline the round closes with the quorum and names the straggler.
        for agent in picked.prefix(2) { _ = machine.receive(agent: agent, round: 1, payload: Fixture.update(machine, agent: agent), now: 1003) }
        let closed = try #require(machine.tick(now: 1060).metrics)
        #expect(closed.selected == picked)
        #expect(closed.stragglers == [picked[2]])
        // Round 2 is drawn again from the agents online; an agent going offline is no longer a candidate.
        #expect(machine.announcement.selected == selection.pick(from: Set((0..<6).map { "a\($0)" }), round: 2, minimum: 2))
        _ = machine.statusReceived(agent: "a0", payload: status("a0", .offline), now: 1001)
        #expect(!machine.online.contains("a0"))
        #expect(machine.announcement.selected?.contains("a0") == false)
    }
}

@Suite("Configured bounds")
struct BoundsTests {
    @Test("a round that could spool more than max_spool_bytes, or more agents than max_agents, is refused at start, naming the bound")
    func policyBounds() {
        var policy = RoundPolicy(targetUpdates: 300, minUpdates: 200)
        #expect(
            throws: ProtocolError.invalidConfiguration(
                "a round may spool target_updates x max_update_bytes = 300 x 67108864 bytes, more than max_spool_bytes (17179869184)")
        ) { try policy.validate() }
        policy.maxUpdateBytes = 1 << 20
        #expect(throws: Never.self) { try policy.validate() }
        policy.maxAgents = 100
        #expect(throws: ProtocolError.invalidConfiguration("max_agents (100) must be at least target_updates (300)")) { try policy.validate() }
    }

    @Test("statuses beyond max_agents distinct agents are not tracked, and say so")
    func agentBound() {
        var policy = Fixture.policy
        policy.maxAgents = 3
        policy.selection = ClientSelection(count: 2)
        var machine = Fixture.machine(policy: policy)
        for index in 0..<3 {
            _ = machine.statusReceived(
                agent: "a\(index)", payload: ProtocolJSON.encode(AgentStatus(agent: "a\(index)", state: .idle, lastRound: 0, time: 1)), now: 1001)
        }
        let fourth = machine.statusReceived(
            agent: "a9", payload: ProtocolJSON.encode(AgentStatus(agent: "a9", state: .idle, lastRound: 0, time: 1)), now: 1001)
        #expect(fourth == [.statusIgnored(agent: "a9", reason: "already tracking max_agents (3) agents")])
        #expect(machine.online == ["a0", "a1", "a2"])
        // One leaves, another may come.
        _ = machine.statusReceived(
            agent: "a0", payload: ProtocolJSON.encode(AgentStatus(agent: "a0", state: .offline, lastRound: 0, time: nil)), now: 1001)
        _ = machine.statusReceived(
            agent: "a9", payload: ProtocolJSON.encode(AgentStatus(agent: "a9", state: .idle, lastRound: 0, time: 1)), now: 1001)
        #expect(machine.online == ["a1", "a2", "a9"])
    }
}
