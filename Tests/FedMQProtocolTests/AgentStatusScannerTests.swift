import FedMQCore
import Foundation
import Testing

@testable import FedMQProtocol

/// The status scanner (the aggregator's quick path) against `JSONDecoder` (the reference):
/// wherever the scanner answers, both must read the same status; elsewhere it must leave the
/// bytes to `JSONDecoder`.
@Suite("Agent status scanner")
struct AgentStatusScannerTests {
    @Test("5,000 statuses as agents write them: the scanner reads each, as JSONDecoder does")
    func written() throws {
        var random = SplitMix64(seed: 61)
        for _ in 0..<5_000 {
            let status = HandWrittenJSONTests.status(&random)
            let bytes = ProtocolJSON.encode(status)
            // A subnormal number is left to JSONDecoder.
            let subnormal = [status.time, status.epsilonSpent, status.delta].contains { $0.map { $0 != 0 && !$0.isNormal } ?? false }
            #expect(AgentStatus.scanned(from: bytes) == (subnormal ? nil : status), "\(String(decoding: bytes, as: UTF8.self))")
            #expect(sameReading(AgentStatus.self, bytes) != false)
        }
        // Through ProtocolJSON as the aggregator reads it: schema and bounds still checked.
        let other = Array(#"{"agent":"a1","last_round":3,"schema":"fedmq.status/2","state":"idle"}"#.utf8)
        #expect(AgentStatus.scanned(from: other)?.schema == "fedmq.status/2")
        #expect(throws: ProtocolError.self) { try ProtocolJSON.decode(AgentStatus.self, from: other) }
        let negative = Array(#"{"agent":"a1","last_round":-3,"schema":"fedmq.status/1","state":"idle"}"#.utf8)
        #expect(AgentStatus.scanned(from: negative)?.lastRound == -3)
        #expect(throws: ProtocolError.self) { try ProtocolJSON.decode(AgentStatus.self, from: negative) }
    }

    @Test("what the scanner does not read is left to JSONDecoder, which still reads or refuses it")
    func leftToDecoder() throws {
        let plain = #"{"agent":"a1","last_round":3,"schema":"fedmq.status/1","state":"idle","time":1764655200.5}"#
        func with(_ old: String, _ new: String) -> [UInt8] {
            #expect(plain.contains(old), "\(old)")
            return Array(plain.replacingOccurrences(of: old, with: new).utf8)
        }
        let long = String(repeating: "x", count: AgentStatus.maxErrorLength + 1)
        let others: [[UInt8]] = [
            with(#""last_round":3"#, #""last_round":3.0"#), with(#""last_round":3"#, #""last_round":null"#),
            with(#""last_round":3"#, #""last_round":3,"last_round":4"#), with(#""time":1764655200.5"#, #""time":null"#),
            with(#""time":1764655200.5"#, #""time":1e999"#), with(#""state":"idle""#, #""state":"asleep""#),
            with(#""state":"idle""#, #""state":"idle","note":1"#), with(#""state":"idle""#, #""state":"idle","last_error":"\#(long)""#),
            with(#""time":1764655200.5"#, #""time":1e-400"#), with(#""time":1764655200.5"#, #""time":5e-324"#),
            with(#""agent":"a1","#, ""), Array(plain.dropLast().utf8), Array("[]".utf8), [],
        ]
        for bytes in others {
            #expect(AgentStatus.scanned(from: bytes) == nil, "\(String(decoding: bytes, as: UTF8.self))")
        }
        // JSONDecoder reads a status with a key it does not know; it refuses an overlong last_error by name.
        #expect(try ProtocolJSON.decode(AgentStatus.self, from: others[6]).agent == "a1")
        #expect(throws: ProtocolError.self) { try ProtocolJSON.decode(AgentStatus.self, from: others[7]) }
        #expect(try ProtocolJSON.decode(AgentStatus.self, from: with(#""time":1764655200.5"#, #""time":null"#)).time == nil)
        // JSONDecoder refuses a number that underflows, which the scanner once read as 0.
        #expect((try? JSONDecoder().decode(AgentStatus.self, from: Data(others[8]))) == nil)
        // A status without time (the last will's) is the scanner's.
        #expect(AgentStatus.scanned(from: with(#","time":1764655200.5"#, ""))?.time == nil)
        #expect(sameReading(AgentStatus.self, with(#","time":1764655200.5"#, "")) == true)
    }

    @Test("20,000 damaged statuses: wherever the scanner answers, JSONDecoder reads the same status")
    func damaged() {
        var random = SplitMix64(seed: 67)
        var answered = 0
        for _ in 0..<20_000 {
            let bytes = damagedJSON(ProtocolJSON.encode(HandWrittenJSONTests.status(&random)), &random)
            guard let same = sameReading(AgentStatus.self, bytes) else { continue }
            answered += 1
            #expect(same, "\(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(answered > 1_000, "the scanner answered only \(answered) times")
    }
}
