import FedMQAgent
import FedMQAggregator
import FedMQCore
import FedMQProtocol
import FedMQRuntime
import Foundation
import Testing

/// An agent with a student of its own: distilled from each evaluated global model, reported in
/// federated evaluation, kept on the device only.
@Suite("Client-side distillation through the services", .hangGuard)
struct DistillationServiceTests {
    @Test("the agent's evaluation carries its student's accuracy; the student stays in its state directory, owner only")
    func studentReported() async throws {
        let fleet = try RuntimeFleet()
        var policy = fleet.policy(rounds: 2, target: 2, minimum: 2)
        policy.evaluateEvery = 1
        let evaluations = try await fleet.observe([fleet.topics.allEvaluations])
        let aggregator = fleet.aggregator(fleet.aggregatorConfig(policy: policy))
        var agents: [RunningService] = []
        for index in 0..<2 {
            var config = try fleet.agentConfig(index)
            config.holdoutFraction = 0.25
            if index == 0 { config.distillation = DistillationConfig(student: RuntimeFleet.spec, alpha: 0.5, temperature: 2, epochs: 2) }
            agents.append(fleet.agent(config))
        }
        let evaluation = try await evaluations.first { message in
            let evaluation = try ProtocolJSON.decode(AgentEvaluation.self, from: message.payload)
            return evaluation.agent == "a0" && evaluation.round == 1 ? evaluation : nil
        }
        #expect(evaluation.studentAccuracy.map { (0...1).contains($0) } == true && evaluation.studentLoss != nil)
        try await aggregator.finished()
        let student = fleet.path("agent-0/student-\(fleet.job).safetensors")
        let attributes = try FileManager.default.attributesOfItem(atPath: student)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(!FileManager.default.fileExists(atPath: fleet.path("agent-1/student-\(fleet.job).safetensors")))
        for agent in agents { try await agent.stop() }

        var config = try fleet.agentConfig(5)
        config.distillation = DistillationConfig(student: RuntimeFleet.spec)
        #expect {
            try config.validate()
        } throws: { "\($0)".contains("distillation reports the student in federated evaluation: it needs holdout_fraction > 0") }
    }

    @Test("server distillation (FedDF) on the aggregator's public rows: the round closes with the distilled model; public_csv is required")
    func serverDistillation() async throws {
        let fleet = try RuntimeFleet()
        var policy = fleet.policy(rounds: 1, target: 2, minimum: 2)
        policy.serverDistillation = ServerDistillation(temperature: 2, epochs: 2)
        var config = fleet.aggregatorConfig(policy: policy)
        #expect {
            try config.validate()
        } throws: { "\($0)".contains("policy.server_distillation and public_csv go together") }
        var rows: [String] = []
        for row in 0..<30 {
            let values: [Double] = (0..<3).map { column in Double((row * 7 + column * 3) % 20) / 10 - 1 }
            rows.append(values.map { String(format: "%.2f", $0) }.joined(separator: ","))
        }
        try (rows.joined(separator: "\n") + "\n").write(toFile: fleet.path("public.csv"), atomically: true, encoding: .utf8)
        config.publicCSV = fleet.path("public.csv")
        try config.validate()
        let aggregator = fleet.aggregator(config)
        let agents = try (0..<2).map { fleet.agent(try fleet.agentConfig($0)) }
        try await aggregator.finished()
        let metrics = try #require(try fleet.metricsLog().first)
        #expect(metrics.failure == nil && metrics.participants == ["a0", "a1"])
        for agent in agents { try await agent.stop() }
    }
}
