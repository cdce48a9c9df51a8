import FedMQProtocol
import FedMQRuntime
import FoundationEssentials
import Synchronization

/// `checkpoint.state`: the aggregator's checkpoint and the model it names, in one `SlotFile`.
/// Closing a round then costs one overwrite and one `fdatasync`, where a model file and a
/// checkpoint file cost two new inodes, two renames and three syncs (1.7 ms of a 12 ms round
/// of 10 agents in `make bench-round` on the test machine). The model is rewritten with every
/// checkpoint, also one of the round's state alone: a deadline extension, or with client
/// selection a new draw of agents, which a fleet coming online can cause at each status
/// before the round's first update. For the small models FedMQ targets that costs little;
/// for a model of many MiB each such checkpoint is a write of its size.
public final class CheckpointFile: Sendable {
    public let path: String
    private let slots: Mutex<SlotFile>

    /// The checkpoint file at `path` (created at the first write).
    public init(path: String) {
        self.path = path
        slots = Mutex(SlotFile(path: path, mode: 0o644))
    }

    /// The newest checkpoint and its model; nil when there is no file.
    public func read() throws(RuntimeError) -> (checkpoint: AggregatorCheckpoint, model: [UInt8])? {
        guard let newest = try slots.withLock({ slots throws(RuntimeError) in try slots.read() }) else { return nil }
        return try Self.decode(newest, path: path)
    }

    /// Makes `checkpoint` and `model` the saved state, durably.
    func write(_ checkpoint: AggregatorCheckpoint, model: [UInt8]) throws(RuntimeError) {
        let bytes = StateSections.encode([("checkpoint", ProtocolJSON.encode(checkpoint)), ("model", model)])
        try slots.withLock { slots throws(RuntimeError) in try slots.write(bytes) }
    }

    /// A slot's checkpoint and model, checked: the model must be the one the checkpoint names.
    public static func decode(_ slot: [UInt8], path: String) throws(RuntimeError) -> (checkpoint: AggregatorCheckpoint, model: [UInt8]) {
        guard let sections = StateSections.decode(slot), let json = sections["checkpoint"], let model = sections["model"] else {
            throw .file(path: path, reason: "not an aggregator checkpoint: its newest slot lacks the checkpoint or the model")
        }
        let checkpoint: AggregatorCheckpoint
        do {
            checkpoint = try JSONDecoder().decode(AggregatorCheckpoint.self, from: Data(json))
        } catch {
            throw .file(path: path, reason: "unreadable checkpoint: \(error)")
        }
        guard ModelCodec.sha256(model) == checkpoint.modelSHA256 else {
            throw .file(path: path, reason: "the model stored with the checkpoint is not the one it names (sha256 \(checkpoint.modelSHA256))")
        }
        return (checkpoint, model)
    }
}
