import FedMQProtocol
import FedMQRuntime
import Foundation

/// The aggregator's state directory:
///
/// - `checkpoint.json`: the open round and the sha256 of the current model;
/// - `model-<sha256>.safetensors`: that model (written before the checkpoint that names it);
/// - `spool/round-<r>.log`: updates accepted in round r, appended as `SpoolLog` records and
///   fsynced once per batch, before anything that depends on them happens;
/// - `metrics.jsonl`: one `RoundMetrics` line per closed round.
struct AggregatorStore {
    let directory: String

    var checkpointPath: String { Self.checkpointPath(in: directory) }
    static func checkpointPath(in directory: String) -> String { directory + "/checkpoint.json" }
    var metricsPath: String { Self.metricsPath(in: directory) }
    static func metricsPath(in directory: String) -> String { directory + "/metrics.jsonl" }
    func modelPath(_ sha256: String) -> String { directory + "/model-\(sha256).safetensors" }
    var spool: RoundSpool { RoundSpool(directory: directory + "/spool") }

    init(directory: String) throws(RuntimeError) {
        self.directory = directory
        try DurableFile.createDirectory(directory)
    }

    var hasCheckpoint: Bool { FileManager.default.fileExists(atPath: checkpointPath) }

    /// Files of a job in a state directory without its checkpoint: metrics, spool, models.
    var orphans: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
            $0 == "metrics.jsonl" || $0 == "spool" || ($0.hasPrefix("model-") && $0.hasSuffix(".safetensors"))
        }.sorted()
    }

    /// Moves `orphans` into a new `discarded-<seconds>` folder and returns its path.
    func moveOrphansAside(now: Double) throws(RuntimeError) -> String {
        let aside = directory + "/discarded-\(Int(now))"
        try DurableFile.createDirectory(aside)
        for name in orphans where rename(directory + "/" + name, aside + "/" + name) != 0 {
            throw .file(path: directory + "/" + name, reason: "cannot move it aside to \(aside): \(String(cString: strerror(errno)))")
        }
        DurableFile.sync(directory: directory)
        return aside
    }

    /// The saved checkpoint, its model bytes and the round's spooled updates, if any. A state
    /// directory that holds a job's files but no checkpoint is refused: starting over there
    /// would delete the previous model and log round 1 after the rounds already logged.
    func load(reset: Bool) throws(RuntimeError) -> (checkpoint: AggregatorCheckpoint, model: [UInt8], spooled: [SpoolLog.Record])? {
        guard hasCheckpoint else {
            let found = orphans
            if !found.isEmpty && !reset {
                throw .file(
                    path: checkpointPath,
                    reason:
                        "missing, but \(directory) holds \(found.joined(separator: ", ")): restore checkpoint.json from a backup, or pass --reset to start the job over (the files are moved aside)"
                )
            }
            return nil
        }
        let checkpoint: AggregatorCheckpoint
        do {
            checkpoint = try JSONDecoder().decode(AggregatorCheckpoint.self, from: Data(try DurableFile.read(checkpointPath)))
        } catch {
            throw .file(path: checkpointPath, reason: "unreadable checkpoint: \(error)")
        }
        let model = try DurableFile.read(modelPath(checkpoint.modelSHA256))
        do {
            _ = try ModelCodec.decodeModel(model)
        } catch {
            throw .file(path: modelPath(checkpoint.modelSHA256), reason: "the checkpoint's model is unreadable: \(error)")
        }
        return (checkpoint, model, try spool.records(round: checkpoint.announcement.round))
    }

    /// Model first, then the checkpoint naming it; then what the new checkpoint no longer needs.
    /// A model file is named by its sha256 and only ever renamed into place whole and synced, so
    /// one already there at the right size is this model: a checkpoint of the round's state alone
    /// does not rewrite it. The checkpoint's directory fsync makes the model's rename durable too.
    func save(_ checkpoint: AggregatorCheckpoint, model: [UInt8]) throws(RuntimeError) {
        let path = modelPath(checkpoint.modelSHA256)
        let existing = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int
        if existing != model.count { try DurableFile.write(model, to: path, syncDirectory: false) }
        try DurableFile.write(ProtocolJSON.encode(checkpoint), to: checkpointPath)
        let keepModel = "model-\(checkpoint.modelSHA256).safetensors"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasPrefix("model-") && name != keepModel {
            try? FileManager.default.removeItem(atPath: directory + "/" + name)
        }
        spool.removeAll(but: checkpoint.announcement.round)
    }

    /// Appends the checkpoint's last round summary if the metrics log does not end with that
    /// round: the aggregator died between its checkpoint and the log line.
    func repairMetrics(from checkpoint: AggregatorCheckpoint) throws(RuntimeError) -> RoundMetrics? {
        let text = (try? String(contentsOfFile: metricsPath, encoding: .utf8)) ?? ""
        var lines = text.split(separator: "\n")
        // A line cut short (a crash in the middle of an append) is dropped, not left for readers to trip on.
        if let last = lines.last, !text.hasSuffix("\n") || (try? ProtocolJSON.decode(RoundMetrics.self, from: Array(last.utf8))) == nil {
            lines.removeLast()
            try DurableFile.write(Array(lines.map { $0 + "\n" }.joined().utf8), to: metricsPath)
        }
        guard let metrics = checkpoint.lastMetrics else { return nil }
        let lastRound = lines.last.flatMap { try? ProtocolJSON.decode(RoundMetrics.self, from: Array($0.utf8)).round } ?? 0
        guard lastRound < metrics.round else { return nil }
        try appendMetrics(metrics)
        return metrics
    }

    func appendMetrics(_ metrics: RoundMetrics) throws(RuntimeError) {
        try DurableFile.appendLine(String(decoding: ProtocolJSON.encode(metrics), as: UTF8.self), to: metricsPath)
    }
}

extension AggregatorConfig {
    /// The round the state directory's checkpoint holds, and whether the job was finished
    /// there; nil for a directory without a checkpoint.
    public func checkpointedRound() throws -> (round: Int, finished: Bool)? {
        let path = AggregatorStore.checkpointPath(in: stateDirectory)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            let checkpoint = try JSONDecoder().decode(AggregatorCheckpoint.self, from: Data(try DurableFile.read(path)))
            return (checkpoint.announcement.round, checkpoint.finished)
        } catch {
            throw RuntimeError.file(path: path, reason: "unreadable checkpoint: \(error)")
        }
    }

    /// The metrics of the last round this job closed, from its state directory's `metrics.jsonl`.
    public func lastRoundMetrics() throws -> RoundMetrics? {
        let path = AggregatorStore.metricsPath(in: stateDirectory)
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw RuntimeError.file(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
        return try text.split(separator: "\n").last.map { try ProtocolJSON.decode(RoundMetrics.self, from: Array($0.utf8)) }
    }
}
