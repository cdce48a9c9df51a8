import FedMQProtocol
import FedMQRuntime
import Foundation

/// The aggregator's state directory:
///
/// - `checkpoint.state`: the open round and the current model (`CheckpointFile`);
/// - `spool/round-<r>.log`: updates accepted in round r, appended as `SpoolLog` records and
///   fsynced once per batch, before anything that depends on them happens;
/// - `metrics.jsonl`: one `RoundMetrics` line per closed round.
///
/// Earlier versions kept `checkpoint.json` and `model-<sha256>.safetensors` instead: such a
/// directory is read once, and its first checkpoint replaces the two files.
struct AggregatorStore {
    let directory: String
    let checkpointFile: CheckpointFile

    var checkpointPath: String { Self.checkpointPath(in: directory) }
    static func checkpointPath(in directory: String) -> String { directory + "/checkpoint.state" }
    static func legacyCheckpointPath(in directory: String) -> String { directory + "/checkpoint.json" }
    var metricsPath: String { Self.metricsPath(in: directory) }
    static func metricsPath(in directory: String) -> String { directory + "/metrics.jsonl" }
    var spool: RoundSpool { RoundSpool(directory: directory + "/spool") }

    init(directory: String) throws(RuntimeError) {
        self.directory = directory
        checkpointFile = CheckpointFile(path: Self.checkpointPath(in: directory))
        try DurableFile.createDirectory(directory)
    }

    /// The checkpoint file in `directory`, of this version or an earlier one; nil if none.
    static func checkpointFound(in directory: String) -> String? {
        [checkpointPath(in: directory), legacyCheckpointPath(in: directory)].first { FileManager.default.fileExists(atPath: $0) }
    }

    var hasCheckpoint: Bool { Self.checkpointFound(in: directory) != nil }

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
                        "missing, but \(directory) holds \(found.joined(separator: ", ")): restore checkpoint.state from a backup, or pass --reset to start the job over (the files are moved aside)"
                )
            }
            return nil
        }
        guard let (checkpoint, model) = try Self.readCheckpoint(in: directory, file: checkpointFile) else { return nil }
        return (checkpoint, model, try spool.records(round: checkpoint.announcement.round))
    }

    /// The checkpoint and model saved in `directory` (`checkpoint.state`, or an earlier
    /// version's `checkpoint.json` and the model file it names); nil when there is none.
    static func readCheckpoint(
        in directory: String, file: CheckpointFile
    ) throws(RuntimeError) -> (checkpoint: AggregatorCheckpoint, model: [UInt8])? {
        if let saved = try file.read() { return saved }
        let path = legacyCheckpointPath(in: directory)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let checkpoint: AggregatorCheckpoint
        do {
            checkpoint = try JSONDecoder().decode(AggregatorCheckpoint.self, from: Data(try DurableFile.read(path)))
        } catch {
            throw .file(path: path, reason: "unreadable checkpoint: \(error)")
        }
        let modelPath = directory + "/model-\(checkpoint.modelSHA256).safetensors"
        let model = try DurableFile.read(modelPath)
        do {
            _ = try ModelCodec.decodeModel(model)
        } catch {
            throw .file(path: modelPath, reason: "the checkpoint's model is unreadable: \(error)")
        }
        return (checkpoint, model)
    }

    /// Writes the checkpoint with its model, then drops an earlier version's checkpoint and model
    /// files. The spools of other rounds are no longer needed either: the caller removes them
    /// (`RoundSpool.removeAll(but:)`) once the next round is out.
    func save(_ checkpoint: AggregatorCheckpoint, model: [UInt8]) throws(RuntimeError) {
        try checkpointFile.write(checkpoint, model: model)
        let legacy = Self.legacyCheckpointPath(in: directory)
        if FileManager.default.fileExists(atPath: legacy) {
            unlink(legacy)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            where name.hasPrefix("model-") && name.hasSuffix(".safetensors") {
                unlink(directory + "/" + name)
            }
            DurableFile.sync(directory: directory)
        }
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
        try appendMetrics(line: ProtocolJSON.encode(metrics))
        return metrics
    }

    /// Appends one round's metrics line (as encoded for the `metrics` topic), fsynced. A write
    /// that fails part way (a full disk) is undone, so the log never ends in half a line.
    func appendMetrics(line: [UInt8]) throws(RuntimeError) {
        try DurableFile.append(line + [UInt8(ascii: "\n")], to: metricsPath, sync: true)
    }
}

extension AggregatorConfig {
    /// The round the state directory's checkpoint holds, and whether the job was finished
    /// there; nil for a directory without a checkpoint.
    public func checkpointedRound() throws -> (round: Int, finished: Bool)? {
        let file = CheckpointFile(path: AggregatorStore.checkpointPath(in: stateDirectory))
        return try AggregatorStore.readCheckpoint(in: stateDirectory, file: file).map {
            ($0.checkpoint.announcement.round, $0.checkpoint.finished)
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
