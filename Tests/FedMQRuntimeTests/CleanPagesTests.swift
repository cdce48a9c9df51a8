import Glibc
import Testing

@testable import FedMQProcess

/// Which pages `CleanPages` hands back: only whole pages of read-only segments that the loader
/// never wrote, and the process keeps working after it did.
@Suite("Clean pages released after start-up")
struct CleanPagesTests {
    typealias Segment = LoadedImage.Segment
    static let page: UInt = 0x1000

    /// A library laid out like the ones on disk: loader tables and constants, then code, in
    /// read-only segments; RELRO at the start of the writable one.
    static func library(textRelocations: Bool = false, vdso: Bool = false) -> LoadedImage {
        LoadedImage(
            name: "/usr/lib/libexample.so",
            segments: [
                Segment(addresses: 0x0..<0x8a00, writable: false, executable: false),
                Segment(addresses: 0x9100..<0x2_0000, writable: false, executable: true),
                Segment(addresses: 0x2_0000..<0x2_4800, writable: true, executable: false),
            ],
            relro: [0x2_0000..<0x2_2000], hasTextRelocations: textRelocations, isVDSO: vdso)
    }

    @Test("read-only segments, shrunk to whole pages, are released; the writable one never")
    func readOnlySegments() {
        #expect(CleanPages.ranges(in: [Self.library()], pageSize: Self.page) == [0x0..<0x8000, 0xa000..<0x2_0000])
    }

    @Test("a read-only segment overlapping RELRO, or smaller than a page, is left alone")
    func relroAndPartialPages() {
        var image = Self.library()
        image.relro.append(0x7000..<0x8000)
        image.segments.append(Segment(addresses: 0x3_0100..<0x3_0f00, writable: false, executable: true))
        #expect(CleanPages.ranges(in: [image], pageSize: Self.page) == [0xa000..<0x2_0000])
    }

    @Test("nothing of an image with text relocations, nor of the vDSO")
    func textRelocationsAndVDSO() {
        #expect(CleanPages.ranges(in: [Self.library(textRelocations: true), Self.library(vdso: true)], pageSize: Self.page).isEmpty)
    }

    @Test("this process's images: the executable first, libc with its code where the loader reports it")
    func currentImages() throws {
        let images = LoadedImage.current()
        let strlenAddress = UInt(bitPattern: dlsym(UnsafeMutableRawPointer(bitPattern: 0), "strlen"))
        #expect(strlenAddress != 0)
        let libc = try #require(images.first { image in image.segments.contains { $0.executable && $0.addresses.contains(strlenAddress) } })
        #expect(libc.name.contains("libc.so"), "\(libc.name)")
        #expect(!libc.hasTextRelocations && !libc.isVDSO)
        #expect(libc.segments.contains { $0.writable } && !libc.relro.isEmpty)
        #expect(images.first?.name == "", "the executable comes first, unnamed")
        #expect(images.filter(\.isVDSO).count <= 1)
    }

    @Test("after the release the loader still binds symbols and code still runs, read again from the files")
    func processWorksAfterRelease() {
        func lookUp(_ name: String) -> UInt { UInt(bitPattern: dlsym(UnsafeMutableRawPointer(bitPattern: 0), name)) }
        let names = ["strlen", "qsort", "getauxval", "posix_spawn", "dl_iterate_phdr"]
        let before = names.map(lookUp)
        let images = LoadedImage.current()
        let report = CleanPages.release()
        #expect(report.advisedBytes > 1 << 20)
        #expect(names.map(lookUp) == before)
        #expect(LoadedImage.current() == images)
        var numbers: [Int32] = [5, -3, 9, 0, 7]
        qsort(&numbers, numbers.count, MemoryLayout<Int32>.size) { a, b in
            guard let a, let b else { return 0 }
            let (x, y) = (a.load(as: Int32.self), b.load(as: Int32.self))
            return x < y ? -1 : (x > y ? 1 : 0)
        }
        #expect(numbers == [-3, 0, 5, 7, 9])
        #expect(strlen("clean pages") == 11)
    }

    @Test("an image with more segments than a record holds is recorded with none, so nothing of it is released")
    func overflowingImageLeftAlone() {
        // A `struct dl_phdr_info` and its program headers (64-bit), every one a 4 KiB `PT_LOAD`.
        let headerSize = 56
        let headers = UnsafeMutableRawPointer.allocate(byteCount: 20 * headerSize, alignment: 8)
        let info = UnsafeMutableRawPointer.allocate(byteCount: 32, alignment: 8)
        var records = ImageRecords()
        defer {
            headers.deallocate()
            info.deallocate()
            records.buffer.deallocate()
        }
        headers.initializeMemory(as: UInt8.self, repeating: 0, count: 20 * headerSize)
        info.initializeMemory(as: UInt8.self, repeating: 0, count: 32)
        for index in 0..<20 {
            let header = headers + index * headerSize
            header.storeBytes(of: UInt32(1), as: UInt32.self)
            header.storeBytes(of: UInt64(index) * 0x10000, toByteOffset: 16, as: UInt64.self)
            header.storeBytes(of: UInt64(0x1000), toByteOffset: 40, as: UInt64.self)
        }
        info.storeBytes(of: UInt64(0x4000_0000), as: UInt64.self)
        info.storeBytes(of: UnsafeRawPointer(headers), toByteOffset: 16, as: UnsafeRawPointer.self)
        for (count, expected) in [(20, 0), (16, 16)] {
            info.storeBytes(of: UInt16(count), toByteOffset: 24, as: UInt16.self)
            let copied = records.copy(info)
            #expect(copied)
            let image = LoadedImage(record: records.record(records.count - 1), vdso: 0)
            #expect(image.segments.count == expected, "\(count) program headers")
            #expect(CleanPages.ranges(in: [image], pageSize: Self.page).count == expected, "\(count) program headers")
        }
    }
}
