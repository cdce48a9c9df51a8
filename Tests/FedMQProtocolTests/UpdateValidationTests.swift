import FedMQCore
import FedMQProtocol
import Testing

@Suite("Update validation names every rejection")
struct UpdateValidationTests {
    @Test("each kind of bad update is refused for its own reason and never counted")
    func everyReason() throws {
        var policy = Fixture.policy
        policy.allowedAgents = ["a1", "a2", "a3", "a4"]
        var machine = Fixture.machine(policy: policy)
        let round = machine.announcement.round
        let good = Fixture.update(machine, agent: "a1")
        let nan = ModelCodec.encodeUpdate(
            try Parameters(
                Fixture.initial.tensors.map { try Tensor(name: $0.name, shape: $0.shape, values: .init(repeating: .nan, count: $0.count)) }),
            encoding: .float32, job: Fixture.job, round: round, agent: "a2", baseSHA256: machine.model.sha256, examples: 5)
        let wrongShape = ModelCodec.encodeUpdate(
            try Parameters([Tensor(name: "W", shape: [2, 3], values: .init(repeating: 0, count: 6)), Tensor(name: "b", shape: [2], values: [0, 0])]),
            encoding: .float32, job: Fixture.job, round: round, agent: "a2", baseSHA256: machine.model.sha256, examples: 5)
        let cases: [(String, Int, [UInt8], RejectionReason)] = [
            ("a2", round, [UInt8](repeating: 1, count: 5000), .tooLarge),
            ("intruder", round, Fixture.update(machine, agent: "intruder"), .senderNotAllowed),
            ("a2", round + 1, Fixture.update(machine, agent: "a2", round: round + 1), .wrongRound),
            ("a2", round, [1, 2, 3, 4, 5, 6, 7, 8, 9], .undecodable),
            ("a2", round, Fixture.update(machine, agent: "a2", job: "other"), .wrongJob),
            ("a2", round, Fixture.update(machine, agent: "a3"), .senderMismatch),
            ("a2", round, Fixture.update(machine, agent: "a2", examples: 0), .badMetadata),
            ("a2", round, Fixture.update(machine, agent: "a2", base: String(repeating: "0", count: 64)), .baseMismatch),
            ("a2", round, wrongShape, .tensorMismatch),
            ("a2", round, nan, .nonFinite),
            ("a2", round, Fixture.update(machine, agent: "a2", value: 100), .normTooLarge),
        ]
        for (agent, updateRound, payload, reason) in cases {
            let actions = machine.receive(agent: agent, round: updateRound, payload: payload, now: 1001)
            #expect(actions.rejections == [reason], "expected \(reason)")
            #expect(actions.spooled == 0)
        }
        #expect(machine.receive(agent: "a1", round: round, payload: good, now: 1002).spooled == 1)
        #expect(machine.receive(agent: "a1", round: round, payload: good, now: 1003).rejections == [.duplicate])
        #expect(machine.acceptedAgents == ["a1"])
        // Close the round, then a late update for it is refused as closed.
        _ = machine.receive(agent: "a2", round: round, payload: Fixture.update(machine, agent: "a2"), now: 1004)
        let closing = machine.receive(agent: "a3", round: round, payload: Fixture.update(machine, agent: "a3"), now: 1005)
        let metrics = try #require(closing.metrics)
        #expect(metrics.rejected.values.reduce(0, +) == cases.count + 1)
        #expect(metrics.rejected["duplicate"] == 1)
        let late = machine.receive(agent: "a4", round: round, payload: good, now: 1006)
        #expect(late.rejections == [.closedRound])
    }

    @Test("int8 updates are accepted within the norm bound's quantization slack")
    func int8() {
        var machine = Fixture.machine()
        let payload = Fixture.update(machine, agent: "a1", value: 10 / Float(8).squareRoot() * 0.999, encoding: .int8)
        #expect(machine.receive(agent: "a1", round: 1, payload: payload, now: 1001).spooled == 1)
    }
}
