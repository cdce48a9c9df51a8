import FedMQAggregator
import FedMQCore
import Testing

@Suite("The spool log: records, torn tails, corruption")
struct SpoolLogTests {
    static let updates: [(agent: String, payload: [UInt8])] = (0..<4).map { index in
        var random = SplitMix64(seed: UInt64(index))
        return ("agent-\(index)", (0..<(100 * index + 7)).map { _ in UInt8(truncatingIfNeeded: random.next()) })
    }

    static var log: [UInt8] { updates.flatMap { SpoolLog.record(agent: $0.agent, payload: $0.payload) } }

    @Test("records read back in order, byte for byte")
    func roundTrip() {
        let (records, length) = SpoolLog.records(in: Self.log)
        #expect(length == Self.log.count)
        #expect(records.map(\.agent) == Self.updates.map(\.agent))
        #expect(records.map(\.payload) == Self.updates.map(\.payload))
    }

    @Test("a log cut at any byte reads as the records wholly before the cut")
    func tornTail() {
        let log = Self.log
        let ends = Self.updates.reduce(into: [0]) { $0.append($0.last! + SpoolLog.record(agent: $1.agent, payload: $1.payload).count) }
        for cut in 0...log.count {
            let (records, length) = SpoolLog.records(in: Array(log.prefix(cut)))
            let whole = ends.lastIndex { $0 <= cut }!
            #expect(records.count == whole && length == ends[whole], "cut at \(cut)")
        }
    }

    @Test("a changed byte ends the log at the record that holds it; garbage is no record")
    func corruption() {
        var log = Self.log
        let second = SpoolLog.record(agent: Self.updates[0].agent, payload: Self.updates[0].payload).count
        log[second + 20] ^= 0x40
        #expect(SpoolLog.records(in: log).records.count == 1)
        #expect(SpoolLog.records(in: Array("not a spool log at all".utf8)).records.isEmpty)
        #expect(SpoolLog.records(in: []).validLength == 0)
    }
}
