import FedMQCore
import FedMQHomomorphic
import FedMQProtocol

/// The plain mean of a round's deltas, computed the way a homomorphic job computes it: each
/// delta packed and encrypted under the key holder's key, the ciphertexts multiplied, only
/// their product decrypted and unpacked.
struct HomomorphicMeanStrategy: AggregationStrategy {
    let key: PaillierPrivateKey
    let encryptor: PaillierEncryptor
    let packing: PaillierPacking
    private var global: Parameters?
    private var product: [BigInteger]?
    private var updates = 0
    private var random: SplitMix64

    init(key: PaillierPrivateKey, base: BigInteger, packing: PaillierPacking, seed: UInt64) throws {
        self.key = key
        encryptor = try PaillierEncryptor(key: key.publicKey, base: base)
        self.packing = packing
        random = SplitMix64(seed: seed)
    }

    mutating func begin(global: Parameters) {
        self.global = global
        product = nil
        updates = 0
    }

    mutating func add(delta: Parameters, examples: Int) throws(CoreError) {
        let ciphertexts = packing.pack(delta.tensors.flatMap(\.values)).map { encryptor.encrypt($0, using: &random) }
        product = product.map { Ciphertexts.add($0, ciphertexts, key: key.publicKey) } ?? ciphertexts
        updates += 1
    }

    mutating func finish() throws(CoreError) -> Parameters {
        guard var global, let product else { throw .invalidModel("no update in the round") }
        do {
            let sums = try packing.unpack(try product.map { try key.decrypt($0) }, count: global.count, updates: updates)
            try global.add(try global.reshaped(sums.map { Float($0 / Double(updates)) }))
        } catch let error as CoreError {
            throw error
        } catch {
            throw .invalidModel("homomorphic aggregation: \(error)")
        }
        return global
    }
}
