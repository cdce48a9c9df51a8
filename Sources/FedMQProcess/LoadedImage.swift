import Glibc

/// One ELF object mapped into this process (the executable, a shared library, the vDSO) as the
/// dynamic loader reports it (`dl_iterate_phdr`): where its segments lie, and whether the loader
/// wrote into the read-only ones.
///
/// Addresses are this process's. Only 64-bit ELF is read; elsewhere `current()` is empty.
struct LoadedImage: Equatable, Sendable {
    struct Segment: Equatable, Sendable {
        var addresses: Range<UInt>
        var writable: Bool
        var executable: Bool
    }

    /// The loader's name for it: the path of a library, empty for the executable.
    var name: String
    /// Its `PT_LOAD` segments.
    var segments: [Segment]
    /// `PT_GNU_RELRO`: written by the loader, then made read-only.
    var relro: [Range<UInt>]
    /// `DT_TEXTREL`: the loader wrote into its read-only segments.
    var hasTextRelocations: Bool
    /// The kernel's vDSO, which is not backed by a file.
    var isVDSO: Bool
}

extension LoadedImage {
    /// The images mapped into this process, in the loader's order. Empty where glibc's
    /// `dl_iterate_phdr` cannot be found or ELF is not 64-bit.
    static func current() -> [LoadedImage] {
        guard MemoryLayout<UInt>.size == 8, let iterate = UndeclaredGlibc.iteratePhdr else { return [] }
        let vdso = UndeclaredGlibc.auxiliaryValue?(UndeclaredGlibc.auxiliaryVDSO) ?? 0
        let visit = UnsafeMutablePointer<ImageRecords>.allocate(capacity: 1)
        visit.initialize(to: ImageRecords())
        defer {
            visit.pointee.buffer.deallocate()
            visit.deallocate()
        }
        _ = iterate(
            { info, _, context in
                guard let info, let records = context?.assumingMemoryBound(to: ImageRecords.self) else { return 0 }
                return records.pointee.copy(info) ? 0 : 1
            }, visit)
        return (0..<visit.pointee.count).map { LoadedImage(record: visit.pointee.record($0), vdso: vdso) }
    }

    /// Reads an image back from its record.
    init(record: UnsafeRawPointer, vdso: UInt) {
        let nameLength = Int(record.load(fromByteOffset: ImageRecords.nameLengthOffset, as: UInt16.self))
        name = String(decoding: UnsafeRawBufferPointer(start: record + ImageRecords.nameOffset, count: nameLength), as: UTF8.self)
        hasTextRelocations = record.load(fromByteOffset: ImageRecords.textRelocationsOffset, as: UInt8.self) != 0
        (segments, relro) = ([], [])
        let count = Int(record.load(fromByteOffset: ImageRecords.segmentCountOffset, as: UInt8.self))
        for index in 0..<count {
            let segment = record + ImageRecords.segmentsOffset + index * ImageRecords.segmentSize
            let (type, flags) = (segment.load(as: UInt32.self), segment.load(fromByteOffset: 4, as: UInt32.self))
            let start = UInt(segment.load(fromByteOffset: 8, as: UInt64.self))
            let addresses = start..<(start &+ UInt(segment.load(fromByteOffset: 16, as: UInt64.self)))
            if type == Elf.load {
                segments.append(Segment(addresses: addresses, writable: flags & Elf.writable != 0, executable: flags & Elf.executable != 0))
            } else {
                relro.append(addresses)
            }
        }
        isVDSO = vdso != 0 && segments.contains { $0.addresses.contains(vdso) }
    }
}

/// What `dl_iterate_phdr`'s callback copies of each image, in fixed-size records of a buffer
/// allocated beforehand. The callback runs with the loader's lock held, so it allocates nothing
/// and calls into no runtime: a thread holding a lock of the runtime or of malloc while it waits
/// for the loader's lock (to bind a symbol, to unwind) would otherwise deadlock with it.
struct ImageRecords {
    static let capacity = 256
    static let maximumSegments = 16
    static let nameCapacity = 255
    static let nameLengthOffset = 0
    static let segmentCountOffset = 2
    static let textRelocationsOffset = 3
    static let segmentsOffset = 8
    /// Type and flags (`UInt32` each), start address and size (`UInt64` each).
    static let segmentSize = 24
    static let nameOffset = segmentsOffset + maximumSegments * segmentSize
    static let recordSize = nameOffset + nameCapacity + 1

    let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity * recordSize, alignment: 8)
    private(set) var count = 0

    func record(_ index: Int) -> UnsafeRawPointer { UnsafeRawPointer(buffer + index * Self.recordSize) }

    /// Copies one `struct dl_phdr_info` (64-bit layout: load address, name, program headers,
    /// their count): its `PT_LOAD` and `PT_GNU_RELRO` segments at their addresses, its name, and
    /// whether its dynamic section asks for text relocations. An image with more of those
    /// segments than a record holds is recorded with none, so nothing of it is released: a
    /// `PT_GNU_RELRO` range left out would let its pages, which the loader wrote, be dropped.
    /// False when the buffer is full.
    mutating func copy(_ info: UnsafeRawPointer) -> Bool {
        guard count < Self.capacity else { return false }
        let record = buffer + count * Self.recordSize
        count += 1
        let base = info.load(fromByteOffset: 0, as: UInt64.self)
        var nameLength = 0
        if let name = info.load(fromByteOffset: 8, as: UnsafePointer<UInt8>?.self) {
            while nameLength < Self.nameCapacity && name[nameLength] != 0 {
                record.storeBytes(of: name[nameLength], toByteOffset: Self.nameOffset + nameLength, as: UInt8.self)
                nameLength += 1
            }
        }
        record.storeBytes(of: UInt16(nameLength), toByteOffset: Self.nameLengthOffset, as: UInt16.self)
        var (segments, textRelocations, overflowed): (UInt8, UInt8, Bool) = (0, 0, false)
        let headers = info.load(fromByteOffset: 16, as: UnsafeRawPointer?.self)
        for index in 0..<Int(info.load(fromByteOffset: 24, as: UInt16.self)) {
            guard let header = headers?.advanced(by: index * Elf.programHeaderSize) else { break }
            let type = header.load(fromByteOffset: 0, as: UInt32.self)
            let start = base &+ header.load(fromByteOffset: 16, as: UInt64.self)
            let size = header.load(fromByteOffset: 40, as: UInt64.self)
            if type == Elf.dynamic, let dynamic = UnsafeRawPointer(bitPattern: UInt(start)) {
                textRelocations = Self.asksForTextRelocations(dynamic, entries: Int(size) / Elf.dynamicEntrySize) ? 1 : 0
            }
            guard type == Elf.load || type == Elf.relro else { continue }
            guard Int(segments) < Self.maximumSegments else {
                overflowed = true
                continue
            }
            let segment = record + Self.segmentsOffset + Int(segments) * Self.segmentSize
            segment.storeBytes(of: type, as: UInt32.self)
            segment.storeBytes(of: header.load(fromByteOffset: 4, as: UInt32.self), toByteOffset: 4, as: UInt32.self)
            segment.storeBytes(of: start, toByteOffset: 8, as: UInt64.self)
            segment.storeBytes(of: size, toByteOffset: 16, as: UInt64.self)
            segments += 1
        }
        record.storeBytes(of: overflowed ? 0 : segments, toByteOffset: Self.segmentCountOffset, as: UInt8.self)
        record.storeBytes(of: textRelocations, toByteOffset: Self.textRelocationsOffset, as: UInt8.self)
        return true
    }

    /// Whether the dynamic section has `DT_TEXTREL` or `DF_TEXTREL` in `DT_FLAGS`.
    private static func asksForTextRelocations(_ dynamic: UnsafeRawPointer, entries: Int) -> Bool {
        for index in 0..<entries {
            let entry = dynamic.advanced(by: index * Elf.dynamicEntrySize)
            let tag = entry.load(fromByteOffset: 0, as: Int64.self)
            let value = entry.load(fromByteOffset: 8, as: UInt64.self)
            if tag == Elf.dtNull { break }
            if tag == Elf.dtTextRel || (tag == Elf.dtFlags && value & Elf.dfTextRel != 0) { return true }
        }
        return false
    }
}

/// The ELF numbers `LoadedImage` reads (from `<elf.h>`, which Swift's Glibc module leaves out).
private enum Elf {
    static let programHeaderSize = 56
    static let dynamicEntrySize = 16
    static let load: UInt32 = 1
    static let dynamic: UInt32 = 2
    static let relro: UInt32 = 0x6474_e552
    static let executable: UInt32 = 1
    static let writable: UInt32 = 2
    static let dtNull: Int64 = 0
    static let dtTextRel: Int64 = 22
    static let dtFlags: Int64 = 30
    static let dfTextRel: UInt64 = 4
}

/// glibc functions that Swift's Glibc module does not declare, looked up at run time.
private enum UndeclaredGlibc {
    typealias Visitor = @convention(c) (UnsafeRawPointer?, Int, UnsafeMutableRawPointer?) -> Int32
    static let iteratePhdr = undeclaredGlibcFunction(
        "dl_iterate_phdr", as: (@convention(c) (Visitor, UnsafeMutableRawPointer?) -> Int32).self)
    static let auxiliaryValue = undeclaredGlibcFunction("getauxval", as: (@convention(c) (UInt) -> UInt).self)
    /// `AT_SYSINFO_EHDR`: where the kernel mapped the vDSO.
    static let auxiliaryVDSO: UInt = 33
}
