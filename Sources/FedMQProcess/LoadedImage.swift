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
        (segments, relro, hasTextRelocations) = ([], [], false)
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
        if let dynamic { hasTextRelocations = Self.hasTextRelocations(dynamic.0, entries: dynamic.entries) }
    }

    /// Whether the dynamic section has `DT_TEXTREL` or `DF_TEXTREL` in `DT_FLAGS`.
    private static func hasTextRelocations(_ dynamic: UnsafeRawPointer, entries: Int) -> Bool {
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
