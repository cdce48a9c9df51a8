import FedMQRuntime
import Foundation
import Glibc

/// `spool/round-<r>.log` under a state directory: the updates (or partials) accepted in round
/// r, appended as `SpoolLog` records, a batch at a time with one fsync, before anything that
/// depends on them happens. The central and the site aggregators keep their spools alike.
struct RoundSpool {
    let directory: String

    func path(_ round: Int) -> String { directory + "/round-\(round).log" }

    /// The intact records of `round`'s log (none if it has no log). A torn last record (the
    /// process died while appending it, before its fsync) is cut off, so the next append
    /// follows the last intact record.
    func records(round: Int) throws(RuntimeError) -> [SpoolLog.Record] {
        let path = path(round)
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let bytes = try DurableFile.read(path)
        let (records, validLength) = SpoolLog.records(in: bytes)
        if validLength < bytes.count { try DurableFile.truncate(path, to: validLength) }
        return records
    }

    /// Appends records to a round's log; with `sync`, fsyncs it: every record appended so far
    /// is durable when this returns. With `syncsDirectory`, the write that creates the log also
    /// syncs the directory, which holds the new name.
    func append(round: Int, records: [UInt8], sync: Bool, syncsDirectory: Bool = true) throws(RuntimeError) {
        let path = path(round)
        let creates = !FileManager.default.fileExists(atPath: path)
        if creates { try DurableFile.createDirectory(directory) }
        try DurableFile.append(records, to: path, sync: sync)
        if creates && syncsDirectory { DurableFile.sync(directory: directory) }
    }

    /// Removes every round's log but `round`'s, once a checkpoint no longer needs them (with
    /// `readdir` and `unlink`: it runs every round, and Foundation's listing and removal cost
    /// several times as much).
    func removeAll(but round: Int) {
        guard let listing = opendir(directory) else { return }
        var names: [String] = []
        while let entry = readdir(listing) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." && name != "round-\(round).log" { names.append(name) }
        }
        closedir(listing)
        for name in names { unlink(directory + "/" + name) }
    }
}

/// One batch of actions' appends to a `RoundSpool` (group commit): their records are gathered
/// in memory, written a few hundred KiB at a time, and fsynced once before anything that
/// depends on them happens (the next action that is not an append, or the end of the batch).
///
/// Without `fsyncsBatches` a batch is written but not fsynced: a killed process loses nothing
/// (its writes are the kernel's), and a machine crash loses only what the kernel had not yet
/// written, which the agents send again when the restarted aggregator's announcement does not
/// list them (`RoundPolicy.agentsResendLostUpdates`). The round's close still ends in the
/// checkpoint's fdatasync.
struct SpoolBatch {
    let spool: RoundSpool
    let fsyncsBatches: Bool
    /// Gathered records are written once they reach this size: a batch's memory stays bounded.
    static let writeThreshold = 256 << 10
    /// The round of the records not yet fsynced, and those not yet written.
    private var unsyncedRound: Int?
    private var pending: [UInt8] = []

    init(_ spool: RoundSpool, fsyncsBatches: Bool = true) {
        self.spool = spool
        self.fsyncsBatches = fsyncsBatches
    }

    /// Whether appends wait for `sync()`.
    var hasPending: Bool { unsyncedRound != nil }

    mutating func append(round: Int, agent: String, payload: [UInt8], signature: String?) throws(RuntimeError) {
        if let unsyncedRound, unsyncedRound != round { try sync() }
        unsyncedRound = round
        SpoolLog.append(agent: agent, payload: payload, signature: signature, to: &pending)
        if pending.count >= Self.writeThreshold { try write(round: round, sync: false) }
    }

    /// Writes every append so far, and fsyncs it when batches are fsynced. Returns whether it
    /// fsynced.
    @discardableResult
    mutating func sync() throws(RuntimeError) -> Bool {
        guard let round = unsyncedRound else { return false }
        unsyncedRound = nil
        try write(round: round, sync: fsyncsBatches)
        return fsyncsBatches
    }

    /// Before a checkpoint of `round`: appends of an earlier round are written but not
    /// fsynced. That round has closed: the checkpoint holds the model they went into and makes
    /// their log obsolete. Only a machine crash before the checkpoint is durable can lose them
    /// (a killed process leaves its writes to the kernel), and the restart then reopens their
    /// round from the previous checkpoint, where agents and sites send what it lacks again, as
    /// after a crash between the broker's acknowledgement and the spool's fsync. Appends of
    /// `round` itself (an extension's checkpoint) are fsynced when batches are. Returns whether
    /// it fsynced.
    @discardableResult
    mutating func settle(beforeCheckpointOf round: Int) throws(RuntimeError) -> Bool {
        guard let unsynced = unsyncedRound else { return false }
        unsyncedRound = nil
        let sync = fsyncsBatches && unsynced >= round
        try write(round: unsynced, sync: sync)
        return sync
    }

    private mutating func write(round: Int, sync: Bool) throws(RuntimeError) {
        defer { pending.removeAll(keepingCapacity: true) }
        try spool.append(round: round, records: pending, sync: sync, syncsDirectory: fsyncsBatches)
    }
}
