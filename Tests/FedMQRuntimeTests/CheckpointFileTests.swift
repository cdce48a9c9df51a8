import FedMQCore
import FedMQProtocol
import Foundation
import Testing

@testable import FedMQAggregator
@testable import FedMQRuntime

@Suite("The aggregator's checkpoint file")
struct CheckpointFileTests {
    static func checkpoint(round: Int, extensions: Int = 0, model: [UInt8]) -> AggregatorCheckpoint {
        let announcement = RoundAnnouncement(
            job: "j", round: round, openedAt: 0, deadline: 60, targetUpdates: 2, minUpdates: 1, extensions: extensions,
            baseModelSHA256: ModelCodec.sha256(model), training: TrainingConfig(), maxUpdateBytes: 1 << 20, normBound: nil,
            encoding: .float32)
        return AggregatorCheckpoint(announcement: announcement, modelSHA256: ModelCodec.sha256(model), finished: false)
    }

    /// Flips one byte in the middle of the model as the slot `slot` of the file at `path` holds it.
    static func damageModel(inSlot slot: Int, of path: String, modelCount: Int) throws {
        var bytes = try DurableFile.read(path)
        let slotSize = Int(bytes[8..<16].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        // File header, the slot's header, the model section's own header, half the model.
        let sectionHeader = StateSections.encodedLength(name: "model", count: 0)
        let at = SlotFile.headerSize + slot * slotSize + SlotFile.slotHeaderSize + sectionHeader + modelCount / 2
        bytes[at] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test("checkpoints read back from a new reader, whether the model changed or only the round's state")
    func readsBack() throws {
        let path = try freshDirectory("checkpoint") + "/checkpoint.state"
        let file = CheckpointFile(path: path)
        let first = (0..<5000).map { UInt8(truncatingIfNeeded: $0) }
        let second = first.map { $0 &+ 1 }
        for (checkpoint, model) in [
            (Self.checkpoint(round: 1, model: first), first), (Self.checkpoint(round: 1, extensions: 1, model: first), first),
            (Self.checkpoint(round: 1, extensions: 2, model: first), first), (Self.checkpoint(round: 2, model: second), second),
            (Self.checkpoint(round: 2, extensions: 1, model: second), second), (Self.checkpoint(round: 2, extensions: 2, model: second), second),
        ] {
            try file.write(checkpoint, model: model)
            let saved = try #require(try CheckpointFile(path: path).read())
            #expect(saved.checkpoint == checkpoint && saved.model == model)
        }
    }

    @Test("a checkpoint of the round's state alone does not rewrite the model a slot already holds")
    func stateOnlyKeepsTheModel() throws {
        let path = try freshDirectory("checkpoint") + "/checkpoint.state"
        let file = CheckpointFile(path: path)
        let model = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let opened = Self.checkpoint(round: 3, model: model)
        let extended = Self.checkpoint(round: 3, extensions: 1, model: model)
        try file.write(opened, model: model)  // a new file: slot 0
        try file.write(extended, model: model)  // slot 1, which held nothing: written whole
        // Slot 0 holds this model: the next state-only checkpoint writes its JSON there, not the model.
        // Damaged on disk first, the model stays damaged, so that slot fails its checksum and the
        // previous checkpoint is what a reader finds.
        try Self.damageModel(inSlot: 0, of: path, modelCount: model.count)
        try file.write(Self.checkpoint(round: 3, extensions: 2, model: model), model: model)
        #expect(try CheckpointFile(path: path).read()?.checkpoint == extended)
        // A new model is written whole: slot 1 now holds it intact.
        let next = model.map { $0 &+ 1 }
        try file.write(Self.checkpoint(round: 4, model: next), model: next)
        #expect(try CheckpointFile(path: path).read()?.model == next)
    }

    @Test("after a restart only the newest slot's model is known: the other slot is written whole")
    func restartForgetsTheOlderSlot() throws {
        let path = try freshDirectory("checkpoint") + "/checkpoint.state"
        let model = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 3) }
        let written = CheckpointFile(path: path)
        try written.write(Self.checkpoint(round: 1, model: model), model: model)
        try written.write(Self.checkpoint(round: 1, extensions: 1, model: model), model: model)
        try written.write(Self.checkpoint(round: 1, extensions: 2, model: model), model: model)
        // Slot 0 is the newest now; slot 1 held the same model, but a restarted process cannot know.
        let restarted = CheckpointFile(path: path)
        _ = try restarted.read()
        try Self.damageModel(inSlot: 1, of: path, modelCount: model.count)
        let latest = Self.checkpoint(round: 1, extensions: 3, model: model)
        try restarted.write(latest, model: model)
        #expect(try CheckpointFile(path: path).read()?.checkpoint == latest)
    }
}
