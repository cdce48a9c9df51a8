import FedMQCore
import Foundation
import Testing

@testable import FedMQProtocol

/// The announcement scanner (the quick path) against `JSONDecoder` (the reference): wherever
/// the scanner answers, both must read the same announcement; elsewhere it must leave the bytes
/// to `JSONDecoder`.
@Suite("Round announcement scanner")
struct RoundAnnouncementScannerTests {
    static let sha = String(repeating: "ab12", count: 16)

    /// Announcements as aggregators write them: a plain round, and one with every optional
    /// field the scanner reads.
    static let written: [[UInt8]] = {
        var plain = RoundAnnouncement(
            job: "digits", round: 7, openedAt: 1_764_655_200.123456, deadline: 1_764_655_260.5, targetUpdates: 10, minUpdates: 7,
            extensions: 0, baseModelSHA256: sha, training: TrainingConfig(learningRate: 0.1, batchSize: 32, epochs: 1),
            maxUpdateBytes: 1_048_576, normBound: nil, encoding: .float32)
        var full = plain
        full.revision = 3
        full.rounds = 30
        full.normBound = 10
        full.evaluateEvery = 5
        full.weighting = .uniform
        full.received = ["a0", "a-1", "site.b_2"]
        full.selected = []
        full.sites = ["north"]
        full.ingestShards = true
        full.sparseBitmaps = false
        full.encoding = .int8
        full.training = TrainingConfig(learningRate: 0.003, momentum: 0.9, weightDecay: 1e-4, batchSize: 64, epochs: 3, proximalMu: 0.01)
        plain.round = 1
        let texts = [
            // White space, escapes, another key order, exponents, negative numbers (bounds are the validator's business).
            "{ \"schema\" : \"fedmq.round\\/1\", \"job\":\"d\\u0069gits\",\n\t\"round\":2,\"opened_at\":1.7e9,\"deadline\":17E8,"
                + "\"target_updates\":1,\"min_updates\":1,\"extensions\":-4,\"base_model_sha256\":\"\(sha)\","
                + "\"training\":{},\"max_update_bytes\":0,\"encoding\":\"float16\"}  ",
            "{\"training\":{\"learning_rate\":1e-3,\"epochs\":0,\"momentum\":0},\"encoding\":\"float32\",\"max_update_bytes\":5,"
                + "\"base_model_sha256\":\"x\",\"extensions\":0,\"min_updates\":0,\"target_updates\":0,\"deadline\":-0.0,"
                + "\"opened_at\":0,\"round\":0,\"job\":\"\",\"schema\":\"other/2\",\"norm_bound\":0.30000000000000004}",
        ]
        return [ProtocolJSON.encode(plain), ProtocolJSON.encode(full)] + texts.map { Array($0.utf8) }
    }()

    @Test("every announcement as written is read by the scanner, as JSONDecoder reads it")
    func writtenAnnouncements() throws {
        for bytes in Self.written {
            #expect(sameReading(RoundAnnouncement.self, bytes) == true, "\(String(decoding: bytes, as: UTF8.self))")
        }
        // Through ProtocolJSON as an agent reads it: the same announcement, schema and bounds checked.
        let decoded = try ProtocolJSON.decode(RoundAnnouncement.self, from: Self.written[1])
        #expect(decoded.received == ["a0", "a-1", "site.b_2"] && decoded.training.momentum == 0.9 && decoded.revision == 3)
        #expect(throws: ProtocolError.self) { try ProtocolJSON.decode(RoundAnnouncement.self, from: Self.written[3]) }
    }

    @Test("what the scanner does not read is left to JSONDecoder, which still reads or refuses it")
    func leftToDecoder() throws {
        let plain = String(decoding: Self.written[0], as: UTF8.self)
        func with(_ old: String, _ new: String) -> [UInt8] {
            #expect(plain.contains(old), "\(old)")
            return Array(plain.replacingOccurrences(of: old, with: new).utf8)
        }
        let others: [[UInt8]] = [
            with(#""round":1"#, #""round":1.0"#), with(#""round":1"#, #""round":1e0"#), with(#""round":1"#, #""round":-0"#),
            with(#""round":1"#, #""round":01"#), with(#""round":1"#, #""round":null"#), with(#""round":1"#, #""round":"1""#),
            with(#""round":1"#, #""round":1,"round":2"#), with(#""round":1"#, #""round":1,"unknown":2"#),
            with(#""round":1"#, #""round":1234567890123456789"#), with(#""round":1"#, #""round":9999999999999999999"#),
            with(#""round":1"#, #""round":-99999999999999999999999"#), with(#""round":1"#, #""round":1,"norm_bound":1e999"#),
            with(#""round":1"#, #""round":1,"revision":null"#), with(#""round":1"#, #""round":1,"weighting":"median""#),
            with(#""batch_size":32"#, #""batch_size":32,"dp_sgd":{}"#), with(#""batch_size":32"#, #""batch_size":32,"epochs":2"#),
            with(#""learning_rate":0.1"#, #""learning_rate":1e-50"#), with(#""learning_rate":0.1"#, #""learning_rate":1e39"#),
            with(#""learning_rate":0.1"#, #""learning_rate":0e1"#),
            with(#""encoding":"float32""#, #""encoding":"float64""#), with(#""job":"digits""#, #""job":"d\ud800""#),
            Array(plain.dropLast().utf8), Array((plain + "x").utf8), Array("[]".utf8), [],
        ]
        for bytes in others {
            #expect(RoundAnnouncement.scanned(from: bytes) == nil, "\(String(decoding: bytes, as: UTF8.self))")
        }
        // Settings the scanner never reads go to JSONDecoder, and the announcement is the same.
        var secure = try ProtocolJSON.decode(RoundAnnouncement.self, from: Self.written[0])
        secure.privacy = ClientPrivacy(mode: .distributed, clipNorm: 1, noiseMultiplier: 0.5, expectedCohort: 10)
        secure.secureAggregation = SecureAggregationSettings(quantization: SecAggQuantization(clip: 1, scale: 1_048_576))
        let bytes = ProtocolJSON.encode(secure)
        #expect(RoundAnnouncement.scanned(from: bytes) == nil)
        #expect(try ProtocolJSON.decode(RoundAnnouncement.self, from: bytes) == secure)
    }

    @Test("20,000 damaged announcements: wherever the scanner answers, JSONDecoder reads the same announcement")
    func damagedAnnouncements() {
        var random = SplitMix64(seed: 29)
        var answered = 0
        for index in 0..<20_000 {
            let bytes = damagedJSON(Self.written[index % Self.written.count], &random)
            guard let same = sameReading(RoundAnnouncement.self, bytes) else { continue }
            answered += 1
            #expect(same, "\(String(decoding: bytes, as: UTF8.self))")
        }
        // Damage in a number or a string often leaves an announcement the scanner still reads.
        #expect(answered > 1_000, "the scanner answered only \(answered) times")
    }

    @Test("5,000 written numbers: the scanner's Float and Double are JSONDecoder's wherever it answers")
    func numbers() {
        var random = SplitMix64(seed: 31)
        let plain = String(decoding: Self.written[1], as: UTF8.self)
        var answered = 0
        for _ in 0..<5_000 {
            let digits = (0..<(1 + Int(random.next() % 25))).map { _ in String(random.next() % 10) }.joined()
            let point = Int(random.next() % UInt64(digits.count + 1))
            let mantissa = digits.prefix(point) + (point < digits.count ? "." + digits.dropFirst(point) : "")
            let marks = ["e", "E", "e+", "E-"]
            let exponent = random.next() % 2 == 0 ? "" : marks[Int(random.next() % 4)] + "\(random.next() % 400)"
            let sign = random.next() % 4 == 0 ? "-" : ""
            let number = sign + (mantissa.hasPrefix(".") ? "0" + mantissa : String(mantissa)) + exponent
            for key in ["learning_rate", "opened_at"] {
                guard let range = plain.range(of: #""\#(key)":"#) else { continue }
                let end = plain[range.upperBound...].firstIndex { $0 == "," || $0 == "}" } ?? plain.endIndex
                let text = plain.replacingCharacters(in: range.upperBound..<end, with: number)
                guard let same = sameReading(RoundAnnouncement.self, Array(text.utf8)) else { continue }
                answered += 1
                #expect(same, "\(key): \(number)")
            }
        }
        #expect(answered > 2_000, "the scanner answered only \(answered) times")
    }
}
