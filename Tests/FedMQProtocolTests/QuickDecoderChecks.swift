import FedMQCore
import FedMQProtocol
import Foundation

/// Damage for the quick decoders' tests: `bytes` with one to three bytes replaced, removed or
/// inserted, drawn from JSON's punctuation, digits, letters of its literals and escapes, and a
/// few bytes that are not ASCII or not UTF-8.
func damagedJSON(_ bytes: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
    let alphabet = Array(#"{}[]:,"\ 0123456789.-+eEuU_adfhlnrst"#.utf8) + [0x00, 0x0A, 0xC3, 0xA9, 0xFF]
    var bytes = bytes
    for _ in 0...(random.next() % 3) {
        let at = Int(random.next() % UInt64(bytes.count + 1))
        let byte = alphabet[Int(random.next() % UInt64(alphabet.count))]
        switch random.next() % 3 {
        case 0 where at < bytes.count: bytes[at] = byte
        case 1 where at < bytes.count: bytes.remove(at: at)
        default: bytes.insert(byte, at: at)
        }
    }
    return bytes
}

/// Whether a quick decoder (`scanned(from:)`) reads `bytes` as `JSONDecoder` does: nil when it
/// left them to `JSONDecoder`, false when `JSONDecoder` refuses them or reads something else.
func sameReading<Message: Decodable & Equatable & SchemaVersioned>(_: Message.Type, _ bytes: [UInt8]) -> Bool? {
    guard let quick = Message.scanned(from: bytes) else { return nil }
    guard let reference = try? JSONDecoder().decode(Message.self, from: Data(bytes)) else { return false }
    return quick == reference
}
