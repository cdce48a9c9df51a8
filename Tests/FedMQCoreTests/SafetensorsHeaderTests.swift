import Testing

@testable import FedMQCore

/// The header scanner (the quick path) against `JSONDecoder` (the reference): wherever the
/// scanner answers, both must read the same header; elsewhere it must leave the header to
/// `JSONDecoder`.
@Suite("Safetensors header scanner")
struct SafetensorsHeaderTests {
    /// Headers as FedMQ and other tools write them: escapes, non-ASCII text, white space.
    static let written: [String] = [
        #"{"__metadata__":{"fedmq.round":"7","note":"quote \" and \\ ok","spec":"{\"layers\":[1,2]}"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}"#,
        #"{"b":{"dtype":"F16","shape":[],"data_offsets":[0,2]},"a":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#,
        "{ \"__metadata__\" : { \"é\" : \"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\" } ,\n\t\"x\" : { \"dtype\" : \"U8\" , \"shape\" : [ 10 ] , \"data_offsets\" : [ 0 , 10 ] , \"extra\" : \"kept out\" } }   ",
        #"{}"#,
        #"{"w":{}}"#,
        #"{"w":{"dtype":[1],"shape":"x","data_offsets":[0]}}"#,
        #"{"big":{"dtype":"F32","shape":[999999999999999],"data_offsets":[0,0]}}"#,
    ]

    func bytes(_ text: String) -> ArraySlice<UInt8> { ArraySlice(Array(text.utf8)) }

    func sameReading(_ header: ArraySlice<UInt8>) -> Bool? {
        guard let quick = SafetensorsHeaderScanner.scan(header) else { return nil }
        guard let reference = try? SafetensorsHeader.decode(header) else { return false }
        func sorted(_ header: SafetensorsHeader) -> [(String, SafetensorsHeader.RawEntry)] {
            header.entries.sorted { $0.name < $1.name }.map { ($0.name, $0.entry) }
        }
        return quick.metadata == reference.metadata && sorted(quick).elementsEqual(sorted(reference)) { $0 == $1 }
    }

    @Test("every header as written is read by the scanner, as JSONDecoder reads it")
    func writtenHeaders() throws {
        for text in Self.written {
            #expect(sameReading(bytes(text)) == true, "\(text)")
        }
        let encoded = SafetensorsEncoder.encode(
            try Parameters([Tensor(name: "dense/kernel", shape: [3, 2], values: [1, 2, 3, 4, 5, 6])]),
            encoding: .int8, metadata: ["fedmq.job": "digits \"main\""])
        let length = Int(encoded[0]) | Int(encoded[1]) << 8
        #expect(sameReading(encoded[8..<8 + length]) == true)
    }

    @Test("what the scanner does not read is left to JSONDecoder: other values, duplicate keys, malformed JSON")
    func leftToDecoder() {
        let others = [
            #"{"w":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#, #"{"w":{"shape":[-1]}}"#, #"{"w":{"shape":[01]}}"#,
            #"{"w":{"shape":[1e2]}}"#, #"{"w":{"x":null}}"#, #"{"w":{"x":true}}"#, #"{"w":{"x":{}}}"#, #"{"w":7}"#,
            #"{"__metadata__":{"a":1}}"#, #"{"__metadata__":[]}"#, #"{"w":{},"w":{}}"#, #"{"w":{"dtype":"F32","dtype":"F16"}}"#,
            #"{"__metadata__":{"a":"1","a":"2"}}"#, #"{"w":{}}x"#, #"{"w":{}"#, #"{"w":{"dtype":"\ud800"}}"#,
            "{\"w\":{\"dtype\":\"\u{01}\"}}", #"{"w":{"dtype":"\x"}}"#, #"[1]"#, "", #"{"w":{"shape":[1234567890123456]}}"#,
        ]
        for text in others {
            #expect(SafetensorsHeaderScanner.scan(bytes(text)) == nil, "\(text)")
        }
        var invalidUTF8 = Array(#"{"w":{"dtype":"F"}}"#.utf8)
        invalidUTF8[15] = 0xFF
        #expect(SafetensorsHeaderScanner.scan(ArraySlice(invalidUTF8)) == nil)
    }

    @Test("20,000 damaged headers: wherever the scanner answers, JSONDecoder reads the same header")
    func damagedHeaders() {
        var random = SplitMix64(seed: 23)
        let alphabet = Array(#"{}[]:,"\ 0123456789.-eEuU_adfhnst"#.utf8) + [0x00, 0x0A, 0xC3, 0xA9, 0xFF]
        var answered = 0
        for index in 0..<20_000 {
            var header = Array(Self.written[index % Self.written.count].utf8)
            for _ in 0...(random.next() % 3) {
                let at = Int(random.next() % UInt64(header.count + 1))
                let byte = alphabet[Int(random.next() % UInt64(alphabet.count))]
                switch random.next() % 3 {
                case 0 where at < header.count: header[at] = byte
                case 1 where at < header.count: header.remove(at: at)
                default: header.insert(byte, at: at)
                }
            }
            guard let same = sameReading(ArraySlice(header)) else { continue }
            answered += 1
            #expect(same, "\(String(decoding: header, as: UTF8.self))")
        }
        // Most damage breaks the JSON; a good share (digits for digits, letters in strings) does not.
        #expect(answered > 2_000, "the scanner answered only \(answered) times")
    }
}
