import FedMQHomomorphic
import FedMQRuntime
import Foundation

/// The key holder's state directory:
/// - `paillier-key.json` (mode 0600): the primes and the fast-encryption base, written once,
///   at the first start, before the public key is ever published;
/// - `answered.json`: the request each recent round was answered for, written before the sum
///   is published, so a restart never decrypts a second aggregate for a round.
struct KeyholderStore {
    let directory: String
    var keyPath: String { directory + "/paillier-key.json" }
    var answeredPath: String { directory + "/answered.json" }

    private struct KeyFile: Codable {
        var schema = "fedmq.paillier-key/1"
        var p: String
        var q: String
        var base: String
    }

    struct Answered: Codable {
        var floor: Int
        var rounds: [String: String]
    }

    init(directory: String) throws(RuntimeError) {
        self.directory = directory
        try DurableFile.createDirectory(directory)
    }

    /// The saved key, or a fresh one of `bits` bits from the kernel's CSPRNG, saved first; and whether it is new.
    func loadOrCreateKey(bits: Int) throws(RuntimeError) -> (key: PaillierPrivateKey, base: BigInteger, created: Bool) {
        if FileManager.default.fileExists(atPath: keyPath) {
            let file: KeyFile = try loadJSONFile(KeyFile.self, from: keyPath)
            guard file.schema == "fedmq.paillier-key/1", let p = Self.number(file.p), let q = Self.number(file.q), let base = Self.number(file.base),
                let key = PaillierPrivateKey(p: p, q: q), key.publicKey.isCiphertext(base)
            else { throw .file(path: keyPath, reason: "not a valid fedmq.paillier-key/1 file") }
            return (key, base, false)
        }
        var random = KernelRandom()
        let key: PaillierPrivateKey
        do {
            key = try PaillierPrivateKey.generate(bits: bits, using: &random)
        } catch {
            throw .configuration("\(error)")
        }
        let base = key.fastEncryptionBase(using: &random)
        let file = KeyFile(p: Self.text(key.primes.p), q: Self.text(key.primes.q), base: Self.text(base))
        let bytes = Array((try? JSONEncoder().encode(file)) ?? Data())
        try DurableFile.write(bytes, to: keyPath, mode: 0o600)
        return (key, base, true)
    }

    /// The answered rounds, or none at the first start.
    func loadAnswered() throws(RuntimeError) -> (answered: [Int: String], floor: Int) {
        guard FileManager.default.fileExists(atPath: answeredPath) else { return ([:], 0) }
        let saved: Answered = try loadJSONFile(Answered.self, from: answeredPath)
        var answered: [Int: String] = [:]
        for (round, sha256) in saved.rounds {
            guard let number = Int(round) else { throw .file(path: answeredPath, reason: "round '\(round.prefix(20))' is not a number") }
            answered[number] = sha256
        }
        return (answered, saved.floor)
    }

    /// Replaces the answered rounds atomically and durably.
    func saveAnswered(_ answered: [Int: String], floor: Int) throws(RuntimeError) {
        let saved = Answered(floor: floor, rounds: Dictionary(uniqueKeysWithValues: answered.map { (String($0.key), $0.value) }))
        try DurableFile.write(Array((try? JSONEncoder().encode(saved)) ?? Data()), to: answeredPath)
    }

    private static func text(_ number: BigInteger) -> String { Data(number.bigEndianBytes()).base64EncodedString() }

    private static func number(_ text: String) -> BigInteger? {
        guard let data = Data(base64Encoded: text), !data.isEmpty, data.count <= 1024 else { return nil }
        return BigInteger(bigEndian: Array(data))
    }
}
