import Glibc
import Testing

@testable import FedMQProcess

/// Which pages `CleanPages` hands back: only whole pages of read-only segments that the loader
/// never wrote, and the process keeps working after it did.
@Suite("Clean pages released after start-up")
struct CleanPagesTests {
    typealias Segment = LoadedImage.Segment
    static let page: UInt = 0x1000

    /// A library laid out like the ones on disk: loader tables and code in read-only segments,
    /// then RELRO at the start of the writable one.
    static func library(tables: [Range<UInt>] = [0x1100..<0x5800], textRelocations: Bool = false, vdso: Bool = false) -> LoadedImage {
        LoadedImage(
            name: "/usr/lib/libexample.so",
            segments: [
                Segment(addresses: 0x0..<0x9000, writable: false, executable: false),
                Segment(addresses: 0x9000..<0x2_0000, writable: false, executable: true),
                Segment(addresses: 0x2_0000..<0x2_4800, writable: true, executable: false),
            ],
            relro: [0x2_0000..<0x2_2000], loaderTables: tables, hasTextRelocations: textRelocations, isVDSO: vdso)
    }

    @Test("loader tables shrink to the whole pages inside them")
    func tablesToWholePages() {
        let ranges = CleanPages.ranges(in: [Self.library()], scope: .loaderTables, pageSize: Self.page)
        #expect(ranges == [0x2000..<0x5000])
    }

    @Test("a table in a writable segment, over RELRO or smaller than a page is left alone")
    func writableRelroAndSmallTablesLeftAlone() {
        let image = Self.library(tables: [0x2_2000..<0x2_4000, 0x2_0000..<0x2_2000, 0x1100..<0x1f00, 0x3000..<0x4000])
        #expect(CleanPages.ranges(in: [image], scope: .loaderTables, pageSize: Self.page) == [0x3000..<0x4000])
    }

    @Test("a read-only segment overlapping RELRO is left alone")
    func readOnlySegmentOverRelro() {
        var image = Self.library()
        image.relro.append(0x8000..<0xa000)
        #expect(CleanPages.ranges(in: [image], scope: .readOnlySegments, pageSize: Self.page).isEmpty)
        #expect(CleanPages.ranges(in: [image], scope: .loaderTables, pageSize: Self.page) == [0x2000..<0x5000])
    }

    @Test("read-only segments, code and constants, are released; the writable one never")
    func readOnlySegments() {
        let ranges = CleanPages.ranges(in: [Self.library()], scope: .readOnlySegments, pageSize: Self.page)
        #expect(ranges == [0x0..<0x9000, 0x9000..<0x2_0000])
    }

    @Test("nothing of an image with text relocations, nor of the vDSO")
    func textRelocationsAndVDSO() {
        for image in [Self.library(textRelocations: true), Self.library(vdso: true)] {
            for scope in [CleanPages.Scope.loaderTables, .readOnlySegments] {
                #expect(CleanPages.ranges(in: [image], scope: scope, pageSize: Self.page).isEmpty)
            }
        }
    }

    @Test("this process's images: the executable and libc, whose code and loader tables the loader reports")
    func currentImages() throws {
        let images = LoadedImage.current()
        let strlenAddress = UInt(bitPattern: dlsym(UnsafeMutableRawPointer(bitPattern: 0), "strlen"))
        #expect(strlenAddress != 0)
        let libc = try #require(images.first { image in image.segments.contains { $0.executable && $0.addresses.contains(strlenAddress) } })
        #expect(libc.name.contains("libc.so"), "\(libc.name)")
        #expect(!libc.hasTextRelocations && !libc.isVDSO)
        #expect(!libc.loaderTables.isEmpty)
        for table in libc.loaderTables {
            #expect(
                libc.segments.contains { !$0.writable && $0.addresses.lowerBound <= table.lowerBound && table.upperBound <= $0.addresses.upperBound })
        }
        #expect(images.first?.name == "", "the executable comes first, unnamed")
        #expect(images.filter(\.isVDSO).count <= 1)
    }

    @Test("after the release the loader still binds symbols and code still runs, read again from the files")
    func processWorksAfterRelease() throws {
        func lookUp(_ name: String) -> UInt { UInt(bitPattern: dlsym(UnsafeMutableRawPointer(bitPattern: 0), name)) }
        let names = ["strlen", "qsort", "getauxval", "posix_spawn", "dl_iterate_phdr"]
        let before = names.map(lookUp)
        let images = LoadedImage.current()
        let tables = CleanPages.release(.loaderTables)
        #expect(tables.advisedBytes > 0)
        #expect(names.map(lookUp) == before)
        let code = CleanPages.release(.readOnlySegments)
        #expect(code.advisedBytes > tables.advisedBytes)
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
}
