/// A `StageTrace` file read back into rounds: each round's critical path, from the aggregator
/// opening it to the aggregator opening the next, cut at the stages the processes marked.
///
/// The path runs through the agent whose update arrived last (the round waited for it): the
/// round reaching that agent, its training, its update, its record, the hop to the
/// aggregator; then the aggregator closing the round: the last update checked and folded, the
/// central evaluation, the checkpoint (with the closing records' spool write, which needs no
/// fsync of its own), the model's publish and the next round's. The segments of a round add
/// up to its time exactly.
struct RoundBreakdown {
    /// One line of the trace.
    struct Mark: Equatable {
        var nanoseconds: Int64
        var process: String
        var stage: String
        var detail: String
    }

    /// A named stretch of a round's critical path.
    struct Segment: Equatable {
        var stage: String
        var milliseconds: Double
    }

    /// What each segment is called, by the mark that ends it, in path order.
    static let labels: [(mark: String, label: String)] = [
        ("training_started", "the round reaches the last agent (broker hop, wake-up, checks)"),
        ("trained", "local training"),
        ("update_made", "the update made (delta, clipping, encoding)"),
        ("record_written", "the agent's state written (record and update, one fdatasync)"),
        ("update_received", "the update reaches the aggregator (publish, broker hop, mailbox)"),
        ("evaluation_started", "the last update checked and folded, the model aggregated"),
        ("evaluation_finished", "central evaluation"),
        ("update_checked", "the new model encoded"),
        ("checkpoint_written", "the spool written, the checkpoint written with its model (one fdatasync)"),
        ("model_published", "the model published (to the broker's acknowledgement, or with the next round)"),
        ("round_opened", "the next round announced (sent with its model)"),
    ]

    /// The trace's marks, in time order; lines that are not marks are skipped.
    static func marks(in text: String) -> [Mark] {
        text.split(separator: "\n").compactMap { line -> Mark? in
            let fields = line.split(separator: " ", maxSplits: 3).map(String.init)
            guard fields.count >= 3, let nanoseconds = Int64(fields[0]) else { return nil }
            return Mark(nanoseconds: nanoseconds, process: fields[1], stage: fields[2], detail: fields.count > 3 ? fields[3] : "")
        }
        .sorted { $0.nanoseconds < $1.nanoseconds }
    }

    /// Each complete round's segments (a round without a next one, or whose last agent's
    /// marks are missing, is left out).
    static func rounds(_ marks: [Mark]) -> [[Segment]] {
        let opens = marks.indices.filter { marks[$0].process == "aggregator" && marks[$0].stage == "round_opened" }
        return zip(opens, opens.dropFirst()).compactMap { start, end in path(Array(marks[start...end])) }
    }

    /// The critical path of one round's marks, from its `round_opened` to the next.
    private static func path(_ window: [Mark]) -> [Segment]? {
        guard let first = window.first, let last = window.last,
            let arrival = window.lastIndex(where: { $0.process == "aggregator" && $0.stage == "update_received" })
        else { return nil }
        let agent = window[arrival].detail
        // The last agent's own stages before its update arrived, then the aggregator's after it.
        let before = window[..<arrival].filter { $0.process == agent }
        let after = window[arrival...].filter { $0.process == "aggregator" && $0.nanoseconds <= last.nanoseconds }
        var points: [Mark] = []
        for stage in ["training_started", "trained", "update_made", "record_written"] {
            guard let mark = before.last(where: { $0.stage == stage }) else { return nil }
            points.append(mark)
        }
        points.append(window[arrival])
        var seen: Set<String> = []
        for mark in after.dropFirst() where labels.contains(where: { $0.mark == mark.stage }) && seen.insert(mark.stage).inserted {
            points.append(mark)
            if mark.stage == "round_opened" { break }
        }
        guard points.last?.stage == "round_opened", zip(points, points.dropFirst()).allSatisfy({ $0.nanoseconds <= $1.nanoseconds }),
            first.nanoseconds <= points[0].nanoseconds
        else { return nil }
        var previous = first.nanoseconds
        return points.map { mark in
            defer { previous = mark.nanoseconds }
            return Segment(stage: mark.stage, milliseconds: Double(mark.nanoseconds - previous) / 1e6)
        }
    }

    /// The median over all agents and rounds of each agent stage (from the mark before it in
    /// the same agent), for comparison with the last agent's.
    static func agentMedians(_ marks: [Mark]) -> [String: Double] {
        let order = ["training_started", "trained", "update_made", "record_written"]
        var durations: [String: [Double]] = [:]
        for (process, own) in Dictionary(grouping: marks.filter { order.contains($0.stage) }, by: \.process) {
            guard process != "aggregator" else { continue }
            for (previous, mark) in zip(own, own.dropFirst())
            where order.firstIndex(of: mark.stage) == order.firstIndex(of: previous.stage).map({ $0 + 1 }) {
                durations[mark.stage, default: []].append(Double(mark.nanoseconds - previous.nanoseconds) / 1e6)
            }
        }
        return durations.mapValues(BenchmarkReport.median)
    }
}
