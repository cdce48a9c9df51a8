import FedMQHomomorphic

/// The open homomorphic round on the aggregator: the running product of the accepted
/// updates' ciphertexts (the encryption of their sum), who sent them, and, once the round
/// closed, the decryption request waiting for the key holder's answer.
struct HomomorphicCollection {
    let round: Int
    var product: [BigInteger]?
    var contributions: [String: HomomorphicCodec.Contribution] = [:]
    /// The request sent to the key holder: its bytes, their sha256, and when the round fails without an answer.
    var request: (payload: [UInt8], sha256: String, deadline: Double)?

    /// Multiplies `update` in.
    mutating func add(_ update: HomomorphicCodec.EncryptedUpdate, contribution: HomomorphicCodec.Contribution, key: PaillierPublicKey) {
        product = product.map { Ciphertexts.add($0, update.ciphertexts, key: key) } ?? update.ciphertexts
        contributions[update.agent] = contribution
    }
}
