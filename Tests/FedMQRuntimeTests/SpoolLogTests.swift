import FedMQCore
import FedMQProtocol
import Foundation
import Testing

@testable import FedMQAggregator

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

    /// A record as logs written before the XXH64 checksum hold it: closed by the sha256 (hex) of its body.
    static func legacyRecord(agent: String, payload: [UInt8], signature: String? = nil) -> [UInt8] {
        let id = Array(agent.utf8)
        let signed = signature.map { Array($0.utf8) }
        var bytes = Array((signed == nil ? "FMQS" : "FMQT").utf8)
        bytes += withUnsafeBytes(of: UInt16(id.count).littleEndian, Array.init)
        if let signed { bytes += withUnsafeBytes(of: UInt16(signed.count).littleEndian, Array.init) }
        bytes += withUnsafeBytes(of: UInt64(payload.count).littleEndian, Array.init)
        let body = id + (signed ?? []) + payload
        return bytes + body + Array(ModelCodec.sha256(body).utf8)
    }

    @Test("a log begun by an older version (sha256 records) reads on, with new records after it")
    func legacyRecords() {
        let (first, second) = (Self.updates[1], Self.updates[2])
        var log = Self.legacyRecord(agent: first.agent, payload: first.payload)
        log += Self.legacyRecord(agent: "signed", payload: [1, 2, 3], signature: "c2lnbmF0dXJl")
        log += SpoolLog.record(agent: second.agent, payload: second.payload, signature: "bmV3")
        let (records, length) = SpoolLog.records(in: log)
        #expect(length == log.count)
        #expect(records.map(\.agent) == [first.agent, "signed", second.agent])
        #expect(records.map(\.payload) == [first.payload, [1, 2, 3], second.payload])
        #expect(records.map(\.signature) == [nil, "c2lnbmF0dXJl", "bmV3"])
        var corrupted = log
        corrupted[20] ^= 0x01
        #expect(SpoolLog.records(in: corrupted).validLength == 0)
    }

    @Test("a batch is written at its sync, in order, and appends to what the log already holds")
    func groupCommit() throws {
        try withSpool { spool in
            var batch = SpoolBatch(spool)
            try batch.append(round: 3, agent: "a", payload: [1], signature: nil)
            try batch.append(round: 3, agent: "b", payload: [2, 2], signature: "c2ln")
            #expect(!FileManager.default.fileExists(atPath: spool.path(3)))
            try batch.sync()
            #expect(try spool.records(round: 3).map(\.agent) == ["a", "b"])
            // A later round's record first writes out the earlier round's.
            try batch.append(round: 3, agent: "c", payload: [3], signature: nil)
            try batch.append(round: 4, agent: "d", payload: [4], signature: nil)
            #expect(try spool.records(round: 3).map(\.agent) == ["a", "b", "c"])
            #expect(try spool.records(round: 4).isEmpty)
            try batch.sync()
            try batch.sync()
            #expect(try spool.records(round: 4).map(\.payload) == [[4]])
            #expect(try spool.records(round: 3).map(\.signature) == [nil, "c2ln", nil])
            // A batch holds a few hundred KiB in memory at most: past that its records are written (fsynced at its sync).
            let large = [UInt8](repeating: 7, count: SpoolBatch.writeThreshold)
            try batch.append(round: 5, agent: "e", payload: [5], signature: nil)
            #expect(try spool.records(round: 5).isEmpty)
            try batch.append(round: 5, agent: "f", payload: large, signature: nil)
            #expect(try spool.records(round: 5).map(\.agent) == ["e", "f"])
            try batch.append(round: 5, agent: "g", payload: [6], signature: nil)
            try batch.sync()
            #expect(try spool.records(round: 5).map(\.payload) == [[5], large, [6]])
        }
    }

    @Test("a spool whose batches are not fsynced writes each batch at its sync all the same")
    func batchesWithoutFsync() throws {
        try withSpool { spool in
            var batch = SpoolBatch(spool, fsyncsBatches: false)
            try batch.append(round: 2, agent: "a", payload: [1], signature: nil)
            #expect(try !batch.sync())
            #expect(try spool.records(round: 2).map(\.agent) == ["a"])
            // Nor before an extension's checkpoint: the agents send what a restart lacks again.
            try batch.append(round: 2, agent: "c", payload: [3], signature: nil)
            #expect(try !batch.settle(beforeCheckpointOf: 2))
            #expect(try spool.records(round: 2).map(\.agent) == ["a", "c"])
            var durable = SpoolBatch(spool)
            try durable.append(round: 2, agent: "b", payload: [2], signature: nil)
            #expect(try durable.sync())
            #expect(try spool.records(round: 2).map(\.agent) == ["a", "c", "b"])
            #expect(try !durable.sync())
        }
    }

    @Test("before a checkpoint of a later round a batch is written without an fsync; before one of its own round it is fsynced")
    func settleBeforeCheckpoint() throws {
        try withSpool { spool in
            var batch = SpoolBatch(spool)
            #expect(try !batch.settle(beforeCheckpointOf: 3))
            try batch.append(round: 3, agent: "a", payload: [1], signature: nil)
            // An extension's checkpoint (same round): the record must be durable first.
            #expect(try batch.settle(beforeCheckpointOf: 3))
            #expect(try spool.records(round: 3).map(\.agent) == ["a"])
            // The round closed: the checkpoint of round 4 holds the model the record went into.
            try batch.append(round: 3, agent: "b", payload: [2], signature: nil)
            #expect(try !batch.settle(beforeCheckpointOf: 4))
            #expect(!batch.hasPending)
            #expect(try spool.records(round: 3).map(\.agent) == ["a", "b"])
        }
    }

    @Test("once a round is checkpointed, every other round's log goes and its own stays")
    func removeAllBut() throws {
        try withSpool { spool in
            for round in [1, 2, 3, 12] {
                try spool.append(round: round, records: SpoolLog.record(agent: "a\(round)", payload: [UInt8(round)], signature: nil), sync: false)
            }
            spool.removeAll(but: 3)
            #expect(try FileManager.default.contentsOfDirectory(atPath: spool.directory) == ["round-3.log"])
            #expect(try spool.records(round: 3).map(\.agent) == ["a3"])
            #expect(try spool.records(round: 12).isEmpty)
        }
    }

    /// A spool in a fresh directory, removed once `body` returns.
    func withSpool(_ body: (RoundSpool) throws -> Void) throws {
        let directory = try freshDirectory("spool")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(RoundSpool(directory: directory))
    }
}
