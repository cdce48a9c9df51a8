import FedMQCore
import FedMQProtocol
import Testing

@Suite("Hostile updates through the aggregator's input path")
struct HostileInputTests {
    @Test("10,000 random and mutated payloads: no crash, each rejected with a named reason, the honest round completes")
    func fuzz() throws {
        var policy = Fixture.policy
        policy.allowedAgents = ["a1", "a2", "a3", "m1", "m2"]
        var machine = Fixture.machine(policy: policy)
        var random = SplitMix64(seed: 2026)
        let template = Fixture.update(machine, agent: "m1")
        var reasons: [RejectionReason: Int] = [:]
        for index in 0..<10_000 {
            var payload: [UInt8]
            switch index % 4 {
            case 0:
                payload = (0..<Int(random.next() % 300)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            case 1:
                // Corrupt the header (length or JSON), where every byte matters.
                payload = template
                let headerEnd = 8 + Int(template[0]) + Int(template[1]) << 8
                for _ in 0..<Int(random.next() % 3 + 1) {
                    payload[Int(random.next() % UInt64(headerEnd))] = UInt8(truncatingIfNeeded: random.next())
                }
            case 2:
                payload = Array(template.prefix(Int(random.next() % UInt64(template.count))))
            default:
                // Valid structure, poisoned values: NaN, infinity or a huge norm.
                let poison: [Float] = [.nan, .infinity, -.infinity, 1e30]
                payload = Fixture.update(machine, agent: "m2", value: poison[Int(random.next() % 4)])
            }
            let agent = index % 7 == 0 ? "intruder\(index % 5)" : (index % 2 == 0 ? "m1" : "m2")
            let actions = machine.receive(agent: agent, round: 1, payload: payload, now: 1001)
            let rejected = actions.rejections
            #expect(rejected.count == 1 && actions.spooled == 0, "payload \(index) was not rejected")
            for reason in rejected { reasons[reason, default: 0] += 1 }
        }
        #expect(reasons.values.reduce(0, +) == 10_000)
        #expect(reasons.keys.count >= 4, "\(reasons)")
        for agent in ["a1", "a2", "a3"] {
            _ = machine.receive(agent: agent, round: 1, payload: Fixture.update(machine, agent: agent, value: 0.1), now: 1002)
        }
        #expect(machine.announcement.round == 2)
        #expect(machine.model.parameters.tensors.allSatisfy { $0.values.allSatisfy { abs($0 - 0.1) < 1e-6 } })
    }
}
