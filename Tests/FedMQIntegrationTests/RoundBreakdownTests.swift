import FedMQLocalBroker
import FedMQRuntime
import Foundation
import Testing

@testable import FedMQBench

@Suite("The round breakdown: stage marks of real processes, cut into each round's critical path", .hangGuard)
struct RoundBreakdownTests {
    static func mark(_ milliseconds: Int64, _ process: String, _ stage: String, _ detail: String = "") -> String {
        "\(milliseconds * 1_000_000) \(process) \(stage)\(detail.isEmpty ? "" : " " + detail)"
    }

    @Test("a round's path runs through the agent whose update arrived last; its segments add up to the round")
    func criticalPath() {
        let lines = [
            Self.mark(0, "aggregator", "round_opened", "1"),
            Self.mark(1, "a0", "training_started"), Self.mark(2, "a1", "training_started"),
            Self.mark(4, "a0", "trained"), Self.mark(5, "a0", "update_made"), Self.mark(6, "a0", "record_written"),
            Self.mark(7, "aggregator", "update_received", "a0"), Self.mark(8, "aggregator", "update_checked", "a0"),
            Self.mark(10, "a1", "trained"), Self.mark(12, "a1", "update_made"), Self.mark(15, "a1", "record_written"),
            Self.mark(16, "aggregator", "update_received", "a1"), Self.mark(17, "aggregator", "evaluation_started"),
            Self.mark(20, "aggregator", "evaluation_finished"), Self.mark(21, "aggregator", "update_checked", "a1"),
            Self.mark(25, "aggregator", "checkpoint_written"),
            Self.mark(26, "aggregator", "model_published"), Self.mark(27, "aggregator", "round_opened", "2"),
            Self.mark(28, "aggregator", "metrics_published"), "not a mark",
        ]
        // Shuffled: the marks of several processes reach the file in any order.
        let marks = RoundBreakdown.marks(in: lines.reversed().joined(separator: "\n"))
        let rounds = RoundBreakdown.rounds(marks)
        #expect(rounds.count == 1, "round 2 has no next round: not complete")
        let path = rounds.first ?? []
        #expect(path.map(\.stage) == RoundBreakdown.labels.map(\.mark))
        #expect(path.map(\.milliseconds) == [2, 8, 2, 3, 1, 1, 3, 1, 4, 1, 1])
        #expect(path.reduce(0) { $0 + $1.milliseconds } == 27)
        let agents = RoundBreakdown.agentMedians(marks)
        #expect(agents["trained"] == 5.5 && agents["update_made"] == 1.5 && agents["record_written"] == 2)
    }

    @Test("a job whose processes write a FEDMQ_TRACE file breaks down into complete rounds whose segments add up")
    func tracedJob() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(broker: broker, job: "traced", agents: 2, rounds: 4, target: 2, minimum: 2, epochs: 1)
            let trace = job.directory.appendingPathComponent("trace.log").path
            let environment = [StageTrace.variable: trace]
            let aggregator = try job.startAggregator(environment: environment)
            let agents = try (0..<2).map { try job.startAgent($0, environment: environment) }
            let status = try await within(.seconds(120), "the aggregator to finish") { try await aggregator.wait() }
            for agent in agents { await agent.stop() }
            #expect(status == 0, "\(job.log("aggregator"))")
            let text = try String(contentsOfFile: trace, encoding: .utf8)
            let marks = RoundBreakdown.marks(in: text)
            #expect(marks.count == text.split(separator: "\n").count, "every line is a mark")
            #expect(Set(marks.map(\.process)) == ["aggregator", "a0", "a1"])
            let rounds = RoundBreakdown.rounds(marks)
            #expect(rounds.count == 3, "4 rounds: 3 with a next one")
            let opened = marks.filter { $0.stage == "round_opened" }
            #expect(opened.map(\.detail) == ["1", "2", "3", "4"])
            for (index, path) in rounds.enumerated() {
                #expect(path.map(\.stage) == RoundBreakdown.labels.map(\.mark), "round \(index + 1)")
                #expect(path.allSatisfy { $0.milliseconds >= 0 })
                let total = path.reduce(0) { $0 + $1.milliseconds }
                let span = Double(opened[index + 1].nanoseconds - opened[index].nanoseconds) / 1e6
                #expect(abs(total - span) < 1e-6, "round \(index + 1): \(total) ms of segments, \(span) ms between its openings")
            }
        }
    }
}
