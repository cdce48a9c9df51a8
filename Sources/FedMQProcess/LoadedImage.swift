import Glibc

/// One ELF object mapped into this process (the executable, a shared library, the vDSO) as the
/// dynamic loader reports it (`dl_iterate_phdr`): where its segments lie and where the tables
/// lie that the loader reads to relocate it and to bind its symbols.
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
    /// The relocation records (`DT_RELA`, `DT_REL`, `DT_RELR`) and the dynamic symbol, version,
    /// hash and string tables (from `DT_SYMTAB` to the end of `DT_STRTAB`), as the dynamic
    /// section gives them.
    var loaderTables: [Range<UInt>]
    /// `DT_TEXTREL`: the loader wrote into its read-only segments.
    var hasTextRelocations: Bool
    /// The kernel's vDSO, which is not backed by a file.
    var isVDSO: Bool
}

extension LoadedImage {
    /// The images mapped into this process, in the loader's order. Empty where glibc's
    /// `dl_iterate_phdr` cannot be found or ELF is not 64-bit.
    static func current() -> [LoadedImage] {
        guard MemoryLayout<UInt>.size == 8, let iterate = Glibc64.iteratePhdr else { return [] }
        let vdso = Glibc64.auxiliaryValue?(Glibc64.auxiliaryVDSO) ?? 0
        final class Found {
            var images: [LoadedImage] = []
            let vdso: UInt
            init(vdso: UInt) { self.vdso = vdso }
        }
        let found = Found(vdso: vdso)
        _ = withExtendedLifetime(found) {
            iterate(
                { info, _, context in
                    guard let info, let context else { return 0 }
                    let found = Unmanaged<Found>.fromOpaque(context).takeUnretainedValue()
                    found.images.append(LoadedImage(info: info, vdso: found.vdso))
                    return 0
                }, Unmanaged.passUnretained(found).toOpaque())
        }
        return found.images
    }

    /// Reads one `struct dl_phdr_info` (64-bit layout: address, name, program headers, count).
    private init(info: UnsafeRawPointer, vdso: UInt) {
        let base = UInt(info.load(fromByteOffset: 0, as: UInt64.self))
        let namePointer = info.load(fromByteOffset: 8, as: UnsafePointer<CChar>?.self)
        let headers = info.load(fromByteOffset: 16, as: UnsafeRawPointer?.self)
        let count = Int(info.load(fromByteOffset: 24, as: UInt16.self))
        name = namePointer.map { String(cString: $0) } ?? ""
        (segments, relro, loaderTables, hasTextRelocations) = ([], [], [], false)
        var dynamic: (UnsafeRawPointer, entries: Int)?
        for index in 0..<count {
            guard let header = headers?.advanced(by: index * Elf.programHeaderSize) else { break }
            let type = header.load(fromByteOffset: 0, as: UInt32.self)
            let flags = header.load(fromByteOffset: 4, as: UInt32.self)
            let start = base &+ UInt(header.load(fromByteOffset: 16, as: UInt64.self))
            let size = UInt(header.load(fromByteOffset: 40, as: UInt64.self))
            let addresses = start..<(start &+ size)
            switch type {
            case Elf.load:
                segments.append(Segment(addresses: addresses, writable: flags & Elf.writable != 0, executable: flags & Elf.executable != 0))
            case Elf.relro: relro.append(addresses)
            case Elf.dynamic: dynamic = UnsafeRawPointer(bitPattern: start).map { ($0, Int(size) / Elf.dynamicEntrySize) }
            default: break
            }
        }
        isVDSO = vdso != 0 && segments.contains { $0.addresses.contains(vdso) }
        if let dynamic { readDynamicSection(dynamic.0, entries: dynamic.entries, base: base) }
    }

    /// glibc stores the dynamic section's addresses with the load address added, except where the
    /// section is read-only; an address below the load address is taken as not yet adjusted.
    private mutating func readDynamicSection(_ dynamic: UnsafeRawPointer, entries: Int, base: UInt) {
        var values: [Int64: UInt] = [:]
        for index in 0..<entries {
            let entry = dynamic.advanced(by: index * Elf.dynamicEntrySize)
            let tag = entry.load(fromByteOffset: 0, as: Int64.self)
            if tag == Elf.dtNull { break }
            values[tag] = UInt(entry.load(fromByteOffset: 8, as: UInt64.self))
        }
        func address(_ tag: Int64) -> UInt? {
            guard let value = values[tag], value != 0 else { return nil }
            return value < base ? base &+ value : value
        }
        hasTextRelocations = values[Elf.dtTextRel] != nil || (values[Elf.dtFlags] ?? 0) & Elf.dfTextRel != 0
        for (table, size) in [(Elf.dtRela, Elf.dtRelaSize), (Elf.dtRel, Elf.dtRelSize), (Elf.dtRelr, Elf.dtRelrSize)] {
            if let start = address(table), let bytes = values[size], bytes > 0 { loaderTables.append(start..<(start &+ bytes)) }
        }
        if let strings = address(Elf.dtStrtab), let bytes = values[Elf.dtStrsz], bytes > 0 {
            let symbols = address(Elf.dtSymtab).flatMap { $0 < strings ? $0 : nil } ?? strings
            loaderTables.append(symbols..<(strings &+ bytes))
        }
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
    static let dtStrtab: Int64 = 5
    static let dtSymtab: Int64 = 6
    static let dtRela: Int64 = 7
    static let dtRelaSize: Int64 = 8
    static let dtStrsz: Int64 = 10
    static let dtRel: Int64 = 17
    static let dtRelSize: Int64 = 18
    static let dtTextRel: Int64 = 22
    static let dtFlags: Int64 = 30
    static let dtRelrSize: Int64 = 35
    static let dtRelr: Int64 = 36
    static let dfTextRel: UInt = 4
}

/// glibc functions that Swift's Glibc module does not declare, looked up at run time.
private enum Glibc64 {
    typealias Visitor = @convention(c) (UnsafeRawPointer?, Int, UnsafeMutableRawPointer?) -> Int32
    static let iteratePhdr: (@convention(c) (Visitor, UnsafeMutableRawPointer?) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "dl_iterate_phdr") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Visitor, UnsafeMutableRawPointer?) -> Int32).self)
    }()
    static let auxiliaryValue: (@convention(c) (UInt) -> UInt)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "getauxval") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UInt) -> UInt).self)
    }()
    /// `AT_SYSINFO_EHDR`: where the kernel mapped the vDSO.
    static let auxiliaryVDSO: UInt = 33
}
