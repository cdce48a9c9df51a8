/// What homomorphic encryption refuses, with the reason.
public enum HomomorphicError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidKey(String)
    case invalidCiphertext(String)
    case invalidPacking(String)

    public var description: String {
        switch self {
        case .invalidKey(let reason): "Paillier key: \(reason)"
        case .invalidCiphertext(let reason): "Paillier ciphertext: \(reason)"
        case .invalidPacking(let reason): "packing: \(reason)"
        }
    }
}
