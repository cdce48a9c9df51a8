import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

/// A small piece of state rewritten often and durably, at the cost of one `fdatasync` and no
/// journal commit: the file holds two fixed-size slots, and each write overwrites the older
/// one in place. A reader takes the newest slot whose checksum holds, so a write torn by a
/// crash leaves the previous state. (`DurableFile.write` costs a file fsync, a rename and a
/// directory fsync, each a journal commit; ten agents on one disk queue thirty per round.)
///
/// Layout: a 32-byte header (`FMQSLOT1`, the slot size as UInt64 LE, zeros), then two slots of
/// that size. A slot: `SLOT`, sequence and length (UInt64 LE), the bytes, and XXH64 of
/// sequence, length and bytes. The file is created at full size, so an overwrite changes no
/// metadata; a state that outgrows its slot gets a new file with larger slots, written and
/// renamed into place like any `DurableFile`.
public final class SlotFile {
    public let path: String
    private let mode: mode_t
    private var descriptor: Int32 = -1
    private var slotSize = 0
    /// The sequence number of the newest slot, and which slot holds it.
    private var newest: (sequence: UInt64, slot: Int)?

    static let magic = Array("FMQSLOT1".utf8)
    static let slotMagic = Array("SLOT".utf8)
    static let headerSize = 32
    /// Slot magic, sequence, length before the bytes; the checksum after them.
    static let slotOverhead = 4 + 8 + 8 + 8
    /// Slot magic, sequence and length: what precedes the bytes.
    static let slotHeaderSize = 4 + 8 + 8

    /// The slot file at `path`, created with `mode` at its first write.
    public init(path: String, mode: mode_t = 0o600) {
        self.path = path
        self.mode = mode
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// Whether `bytes` begin like a slot file (for tools that describe any FedMQ file).
    public static func isSlotFile(_ bytes: [UInt8]) -> Bool { bytes.starts(with: magic) }

    /// The newest intact state in `bytes` (a whole slot file). Throws when the file is not a
    /// slot file or no slot is intact (a crash never does that: the file is created with a
    /// written slot, and a write never touches the newest).
    public static func newest(in bytes: [UInt8], path: String) throws(RuntimeError) -> [UInt8] {
        try newestSlot(in: bytes, path: path).bytes
    }

    /// The newest intact state, nil if the file does not exist.
    public func read() throws(RuntimeError) -> [UInt8]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let bytes = try DurableFile.read(path)
        let found = try Self.newestSlot(in: bytes, path: path)
        newest = (found.sequence, found.slot)
        slotSize = found.slotSize
        return found.bytes
    }

    /// Where a write went: the slot, and whether it made a new file (whose other slot holds
    /// nothing).
    public struct Written: Equatable, Sendable {
        public var slot: Int
        public var newFile: Bool
    }

    /// The slot the next write goes into (the older one); nil before there is a file.
    public var nextSlot: Int? { slotSize > 0 ? newest.map { 1 - $0.slot } ?? 0 : nil }

    /// Makes `bytes` the state, durably: in the older slot with one fdatasync, or in a new
    /// file with larger slots when it does not fit.
    ///
    /// With `unchangedPrefix`, the caller vouches that the slot this write goes into
    /// (`nextSlot`) already holds the first `unchangedPrefix` bytes of `bytes` (it wrote them
    /// there itself): only the slot's header, the rest of the bytes and the checksum are
    /// written. A crash in the middle still leaves the previous state, since the checksum
    /// covers every byte. A new file is always written whole.
    @discardableResult
    public func write(_ bytes: [UInt8], unchangedPrefix: Int = 0) throws(RuntimeError) -> Written {
        let sequence = (newest?.sequence ?? 0) + 1
        let slotBytes = Self.slot(bytes, sequence: sequence)
        guard slotSize > 0, slotBytes.count <= slotSize, try openForOverwrite() else {
            try relayout(slotBytes, sequence: sequence)
            return Written(slot: 0, newFile: true)
        }
        let slot = newest.map { 1 - $0.slot } ?? 0
        let offset = Self.headerSize + slot * slotSize
        let skipped = min(max(unchangedPrefix, 0), bytes.count)
        // The slot's header, then (past what it already holds) the rest: one write when nothing is skipped.
        let parts =
            skipped == 0
            ? [(slotBytes, offset)]
            : [
                (Array(slotBytes[..<Self.slotHeaderSize]), offset),
                (Array(slotBytes[(Self.slotHeaderSize + skipped)...]), offset + Self.slotHeaderSize + skipped),
            ]
        for (part, at) in parts where !DurableFile.writeAll(part, to: descriptor, at: off_t(at)) {
            throw DurableFile.failure(path, "write")
        }
        guard fdatasync(descriptor) == 0 else { throw DurableFile.failure(path, "fdatasync") }
        newest = (sequence, slot)
        return Written(slot: slot, newFile: false)
    }

    /// A fresh file whose slots hold `slotBytes` with a quarter to spare (room for the state
    /// to grow; the file stays about 2.5 times the state, which matters for a large model), in
    /// whole 4 KiB pages, with `slotBytes` in slot 0; replaces the old file atomically.
    private func relayout(_ slotBytes: [UInt8], sequence: UInt64) throws(RuntimeError) {
        let size = max(4096, (slotBytes.count + slotBytes.count / 4 + 4095) / 4096 * 4096)
        var file = Self.magic + withUnsafeBytes(of: UInt64(size).littleEndian, Array.init)
        file += [UInt8](repeating: 0, count: Self.headerSize - file.count)
        file += slotBytes + [UInt8](repeating: 0, count: 2 * size - slotBytes.count)
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
        try DurableFile.write(file, to: path, mode: mode)
        slotSize = size
        newest = (sequence, 0)
    }

    private func openForOverwrite() throws(RuntimeError) -> Bool {
        if descriptor >= 0 { return true }
        descriptor = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return false }
            throw DurableFile.failure(path, "open")
        }
        return true
    }

    static func slot(_ bytes: [UInt8], sequence: UInt64) -> [UInt8] {
        var slot = slotMagic
        slot.reserveCapacity(bytes.count + slotOverhead)
        withUnsafeBytes(of: sequence.littleEndian) { slot += $0 }
        withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { slot += $0 }
        slot += bytes
        let checksum = XXHash64.hash(slot[4...])
        withUnsafeBytes(of: checksum.littleEndian) { slot += $0 }
        return slot
    }

    private static func newestSlot(
        in bytes: [UInt8], path: String
    ) throws(RuntimeError) -> (bytes: [UInt8], sequence: UInt64, slot: Int, slotSize: Int) {
        guard bytes.count >= headerSize, bytes.starts(with: magic) else { throw .file(path: path, reason: "not a FedMQ slot file") }
        let size = Int(clamping: word(bytes, at: 8))
        guard size >= 4096, size <= (bytes.count - headerSize) / 2 else {
            throw .file(path: path, reason: "slot file cut short: \(bytes.count) bytes for two slots of \(size)")
        }
        var best: (bytes: [UInt8], sequence: UInt64, slot: Int, slotSize: Int)?
        for slot in 0..<2 {
            let start = headerSize + slot * size
            guard bytes[start..<start + 4].elementsEqual(slotMagic) else { continue }
            let sequence = word(bytes, at: start + 4)
            let length = word(bytes, at: start + 12)
            guard length <= UInt64(size - slotOverhead) else { continue }
            let end = start + 20 + Int(length)
            guard XXHash64.hash(bytes[start + 4..<end]) == word(bytes, at: end) else { continue }
            if sequence > best?.sequence ?? 0 { best = (Array(bytes[start + 20..<end]), sequence, slot, size) }
        }
        guard let best else { throw .file(path: path, reason: "no intact slot: the state file is damaged") }
        return best
    }

    private static func word(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        bytes[offset..<offset + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}
