import Glibc

/// Hands pages this process mapped from its executable and shared libraries, and never wrote,
/// back to the kernel (`madvise(MADV_DONTNEED)`), so that they stop counting in its resident
/// memory until they are used again.
///
/// Such a page is a copy of the file's page cache: dropping it loses nothing, and the next read
/// maps it again from the cache (a minor fault). Only pages of segments that are read-only from
/// the start qualify: code, constants and the loader's relocation records and symbol tables,
/// never a page the loader wrote (`PT_GNU_RELRO`, writable segments, an image with text
/// relocations), never the vDSO.
public enum CleanPages {
    /// What one release did: bytes advised, and the process's resident memory just before and
    /// after (from `/proc/self/statm`; nil where it could not be read).
    public struct Report: Sendable, Equatable {
        public var advisedBytes: Int
        public var residentBefore: Int?
        public var residentAfter: Int?
    }

    /// Releases the read-only pages of every image mapped into this process.
    @discardableResult
    public static func release() -> Report {
        let pageSize = UInt(max(4096, sysconf(Int32(_SC_PAGESIZE))))
        let before = residentBytes()
        var advised = 0
        for range in ranges(in: LoadedImage.current(), pageSize: pageSize) {
            guard let start = UnsafeMutableRawPointer(bitPattern: range.lowerBound) else { continue }
            if madvise(start, Int(range.count), MADV_DONTNEED) == 0 { advised += Int(range.count) }
        }
        return Report(advisedBytes: advised, residentBefore: before, residentAfter: residentBytes())
    }

    /// The page-aligned ranges to release: each read-only segment shrunk to whole pages, unless
    /// it overlaps a `PT_GNU_RELRO` range of its image, in images without text relocations
    /// other than the vDSO.
    static func ranges(in images: [LoadedImage], pageSize: UInt) -> [Range<UInt>] {
        images.filter { !$0.isVDSO && !$0.hasTextRelocations }.flatMap { image in
            image.segments.filter { !$0.writable }.compactMap { segment -> Range<UInt>? in
                let range = segment.addresses
                let start = (range.lowerBound &+ pageSize &- 1) & ~(pageSize &- 1)
                let end = range.upperBound & ~(pageSize &- 1)
                guard range.lowerBound <= start, start < end, !image.relro.contains(where: { $0.overlaps(start..<end) }) else { return nil }
                return start..<end
            }
        }
    }

    /// This process's resident memory in bytes (the second field of `/proc/self/statm`, in pages).
    static func residentBytes() -> Int? {
        let file = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard file >= 0 else { return nil }
        defer { close(file) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = buffer.withUnsafeMutableBytes { read(file, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let fields = buffer[..<count].split(whereSeparator: { $0 == 32 || $0 == 10 })
        guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
