import FedMQCore
import Foundation
import Testing

@testable import FedMQProtocol

/// The JSON an agent writes by hand every round (`JSONWriter`) against `JSONEncoder` with
/// sorted keys and unescaped slashes (the reference): the same bytes.
@Suite("Hand-written JSON")
struct HandWrittenJSONTests {
    static func reference<Message: Encodable>(_ message: Message) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(message))
    }

    /// Numbers of every kind a status carries: integral, tiny, huge, negative, long fractions.
    static func number(_ random: inout SplitMix64) -> Double {
        switch random.next() % 6 {
        case 0: Double(random.next() % 2_000_000_000)
        case 1: 1_764_655_200 + Double(random.next() % 1_000_000) / 1_000_000
        case 2: Double(bitPattern: random.next() >> 2)
        case 3: -Double(random.next() % 1000) / 7
        case 4: pow(10, Double(Int(random.next() % 60) - 30))
        default: Double(random.next() % 1_000_000) * 1e-11
        }
    }

    /// Text with quotes, backslashes, slashes, every control character and non-ASCII letters.
    static func text(_ random: inout SplitMix64) -> String {
        let pieces = ["a", "\"", "\\", "/", "é", "😀", " ", "\u{7F}", "\u{2028}"] + (0..<0x20).map { String(UnicodeScalar(UInt8($0))) }
        return (0..<Int(random.next() % 12)).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined()
    }

    /// A status with every field drawn at random (optional ones absent at times).
    static func status(_ random: inout SplitMix64) -> AgentStatus {
        let states: [AgentStatus.State] = [.idle, .training, .budgetExhausted, .offline]
        var status = AgentStatus(
            agent: "agent-\(random.next() % 1000)", state: states[Int(random.next() % 4)], lastRound: Int(random.next() % 1_000_000),
            time: random.next() % 3 == 0 ? nil : number(&random), epsilonSpent: random.next() % 2 == 0 ? nil : number(&random),
            delta: random.next() % 2 == 0 ? nil : number(&random))
        if random.next() % 3 == 0 { status.lastError = text(&random) }
        if random.next() % 4 == 0 { status.waitingForModel = String(repeating: "0f", count: 32) }
        return status
    }

    @Test("5,000 random statuses: the hand-written bytes are JSONEncoder's")
    func statuses() throws {
        var random = SplitMix64(seed: 53)
        for _ in 0..<5_000 {
            let status = Self.status(&random)
            let written = try #require(status.writtenJSON())
            #expect(written == (try Self.reference(status)), "\(String(decoding: written, as: UTF8.self))")
            #expect(ProtocolJSON.encode(status) == written)
        }
    }

    @Test("a number JSONEncoder refuses is left to it")
    func nonFinite() {
        let status = AgentStatus(agent: "a", state: .idle, lastRound: 1, time: .infinity)
        #expect(status.writtenJSON() == nil)
        #expect(ProtocolJSON.encode(status) == Array("{}".utf8))
    }
}
