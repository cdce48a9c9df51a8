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
            for case .publishRound(let round) in machine.statusReceived(agent: "a\(index)", payload: status("a\(index)")) { republished.append(round) }
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
        _ = machine.statusReceived(agent: "a0", payload: status("a0", .offline))
        #expect(!machine.online.contains("a0"))
        #expect(machine.announcement.selected?.contains("a0") == false)
    }
}
