import FedMQProtocol
import FedMQRuntime
import FoundationEssentials
import Synchronization

/// `checkpoint.state`: the aggregator's checkpoint and the model it names, in one `SlotFile`.
/// Closing a round then costs one overwrite and one `fdatasync`, where a model file and a
/// checkpoint file cost two new inodes, two renames and three syncs (1.7 ms of a 12 ms round
/// of 10 agents in `make bench-round` on the test machine).
///
/// The model goes first in a slot, so a checkpoint of the round's state alone (a deadline
/// extension; with client selection, a new draw of agents, which a fleet coming online can
/// cause at each status) rewrites only the checkpoint's JSON when the slot it goes into
/// already holds the same model: what it writes to disk does not grow with the model (the
/// hashing and copying in memory still do).
public final class CheckpointFile: Sendable {
    public let path: String
    /// The file, and which model section each of its two slots begins with (length and XXH64),
    /// as far as this process wrote or read them.
    private let storage: Mutex<(file: SlotFile, models: [ModelSection?])>

    /// A slot's model section (what it begins with), known by its length and XXH64.
    private struct ModelSection: Equatable {
        let length: Int
        let hash: UInt64

        /// The model section `slot` begins with, for a model of `modelCount` bytes; nil if the slot is
        /// shorter (a slot that begins otherwise gets a hash no model section has).
        init?(beginning slot: [UInt8], modelCount: Int) {
            length = StateSections.encodedLength(name: "model", count: modelCount)
            guard slot.count >= length else { return nil }
            hash = slot.withUnsafeBytes { [length] in XXHash64.hash(UnsafeRawBufferPointer(rebasing: $0[..<length])) }
        }
    }

    /// The checkpoint file at `path` (created at the first write).
    public init(path: String) {
        self.path = path
        storage = Mutex((SlotFile(path: path, mode: 0o644), [nil, nil]))
    }

    /// The newest checkpoint and its model; nil when there is no file.
    public func read() throws(RuntimeError) -> (checkpoint: AggregatorCheckpoint, model: [UInt8])? {
        try storage.withLock { storage throws(RuntimeError) in
            guard let newest = try storage.file.read() else { return nil }
            let saved = try Self.decode(newest, path: path)
            storage.models = [nil, nil]
            if let next = storage.file.nextSlot { storage.models[1 - next] = ModelSection(beginning: newest, modelCount: saved.model.count) }
            return saved
        }
    }

    /// Makes `checkpoint` and `model` the saved state, durably.
    func write(_ checkpoint: AggregatorCheckpoint, model: [UInt8]) throws(RuntimeError) {
        let bytes = StateSections.encode([("model", model), ("checkpoint", ProtocolJSON.encode(checkpoint))])
        let section = ModelSection(beginning: bytes, modelCount: model.count)
        try storage.withLock { storage throws(RuntimeError) in
            var unchanged = 0
            if let next = storage.file.nextSlot {
                if let held = storage.models[next], held == section { unchanged = held.length }
                // Until the write succeeds, nothing is known of that slot (a failed write may have changed it).
                storage.models[next] = nil
            }
            let written = try storage.file.write(bytes, unchangedPrefix: unchanged)
            if written.newFile { storage.models = [nil, nil] }
            storage.models[written.slot] = section
        }
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
