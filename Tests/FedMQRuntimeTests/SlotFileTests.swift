import Foundation
import Testing

@testable import FedMQRuntime

@Suite("The slot file: in-place durable writes, torn slots, growth")
struct SlotFileTests {
    private static func size(_ path: String) throws -> Int {
        try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? -1
    }

    @Test("writes alternate between the two slots of one file and read back, newest first, from a new reader")
    func roundTrip() throws {
        let path = try freshDirectory("slot") + "/state"
        let file = SlotFile(path: path)
        #expect(try file.read() == nil)
        for round in 1...5 {
            try file.write(Array("state of round \(round)".utf8))
            #expect(try SlotFile(path: path).read() == Array("state of round \(round)".utf8))
        }
        // Created once at full size; every later write went into a slot in place.
        #expect(try Self.size(path) == SlotFile.headerSize + 2 * 4096)
        let bytes = try DurableFile.read(path)
        let first = Array(bytes[SlotFile.headerSize..<SlotFile.headerSize + 4096])
        let second = Array(bytes[SlotFile.headerSize + 4096..<SlotFile.headerSize + 8192])
        #expect(first.starts(with: SlotFile.slot(Array("state of round 5".utf8), sequence: 5)))
        #expect(second.starts(with: SlotFile.slot(Array("state of round 4".utf8), sequence: 4)))
        #expect(try Self.size(path) == bytes.count)
        // A reader that continues writes after the newest.
        let reopened = SlotFile(path: path)
        _ = try reopened.read()
        try reopened.write(Array("round 6".utf8))
        #expect(try SlotFile(path: path).read() == Array("round 6".utf8))
        #expect(try DurableFile.read(path)[(SlotFile.headerSize + 4096)...].starts(with: SlotFile.slot(Array("round 6".utf8), sequence: 6)))
    }

    @Test("a write torn anywhere in its slot leaves the previous state; damage to both slots is an error naming the file")
    func tornWrites() throws {
        let path = try freshDirectory("slot") + "/state"
        let file = SlotFile(path: path)
        try file.write(Array("old".utf8))
        try file.write(Array("new state".utf8))
        let intact = try DurableFile.read(path)
        let newSlot = SlotFile.headerSize + 4096
        for offset in newSlot..<newSlot + SlotFile.slot(Array("new state".utf8), sequence: 2).count {
            var torn = intact
            torn[offset] ^= 0x5A
            #expect(try SlotFile.newest(in: torn, path: path) == Array("old".utf8), "byte \(offset)")
        }
        var both = intact
        both[SlotFile.headerSize + 25] ^= 1
        both[newSlot + 25] ^= 1
        #expect {
            try SlotFile.newest(in: both, path: path)
        } throws: { error in
            "\(error)".contains(path) && "\(error)".contains("no intact slot")
        }
        #expect {
            try SlotFile.newest(in: Array(intact.prefix(5000)), path: path)
        } throws: { error in
            "\(error)".contains("cut short")
        }
        var huge = intact
        huge.replaceSubrange(8..<16, with: [UInt8](repeating: 0xFF, count: 8))
        #expect {
            try SlotFile.newest(in: huge, path: path)
        } throws: { error in
            "\(error)".contains("cut short")
        }
        #expect {
            try SlotFile.newest(in: Array("{\"job\":1}".utf8), path: path)
        } throws: { error in
            "\(error)".contains("not a FedMQ slot file")
        }
    }

    @Test("a state that outgrows its slot moves to a new file with larger slots; smaller states then fit in place again")
    func growth() throws {
        let path = try freshDirectory("slot") + "/state"
        let file = SlotFile(path: path)
        try file.write(Array("small".utf8))
        let large = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try file.write(large)
        // 10,028 bytes with the slot's header and checksum, a quarter to spare, in whole 4 KiB pages.
        #expect(try Self.size(path) == SlotFile.headerSize + 2 * 16384)
        #expect(try SlotFile(path: path).read() == large)
        try file.write(Array("small again".utf8))
        #expect(try Self.size(path) == SlotFile.headerSize + 2 * 16384)
        #expect(try SlotFile(path: path).read() == Array("small again".utf8))
        // No temporary file is left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent) == ["state"])
    }

    @Test("a link planted at the state's path is never written through")
    func plantedLink() throws {
        let directory = try freshDirectory("slot")
        let path = directory + "/state"
        try SlotFile(path: path).write(Array("mine".utf8))
        let target = directory + "/elsewhere"
        try SlotFile(path: target).write(Array("theirs".utf8))
        let before = try DurableFile.read(target)
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
        let file = SlotFile(path: path)
        _ = try file.read()
        #expect {
            try file.write(Array("new".utf8))
        } throws: { error in
            "\(error)".contains(path)
        }
        #expect(try DurableFile.read(target) == before)
    }

    @Test("named sections read back by name; a cut or overlong buffer does not parse")
    func sections() {
        let sections: [(String, [UInt8])] = [("record", Array("{}".utf8)), ("update", [0, 1, 2, 255]), ("empty", [])]
        let bytes = StateSections.encode(sections)
        #expect(StateSections.decode(bytes) == ["record": Array("{}".utf8), "update": [0, 1, 2, 255], "empty": []])
        for cut in 1..<bytes.count where ![13, 28].contains(cut) {
            #expect(StateSections.decode(Array(bytes.prefix(cut))) == nil, "cut at \(cut)")
        }
    }
}
