import FoundationEssentials
import Glibc

/// How much an update counts when it was trained on a model `s` versions older than the
/// current one (asynchronous aggregation, FedBuff: Nguyen et al., AISTATS 2022). Every
/// function gives 1 at s = 0 and never more than 1, so one update moves the buffer's mean by
/// at most its clip norm over the buffer's size whatever its staleness.
///
/// - `constant`: 1.
/// - `polynomial`: (1 + s)^-a.
/// - `hinge`: 1 for s <= b, then 1 / (1 + a·(s - b)).
public struct StalenessWeight: Codable, Sendable, Equatable {
    /// The shape of the weight as staleness grows.
    public enum Function: String, Codable, Sendable, CaseIterable {
        case constant, polynomial, hinge
    }

    public var function: Function
    /// a: how fast the weight falls (polynomial, hinge).
    public var exponent: Double
    /// b: staleness that still counts fully (hinge).
    public var hingeAt: Int

    /// FedBuff's default shape: polynomial with a = 0.5.
    public init(function: Function = .polynomial, exponent: Double = 0.5, hingeAt: Int = 0) {
        self.function = function
        self.exponent = exponent
        self.hingeAt = hingeAt
    }

    enum CodingKeys: String, CodingKey {
        case function, exponent
        case hingeAt = "hinge_at"
    }

    /// Field by field, with the defaults above for what a config leaves out.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        function = try container.decodeIfPresent(Function.self, forKey: .function) ?? .polynomial
        exponent = try container.decodeIfPresent(Double.self, forKey: .exponent) ?? 0.5
        hingeAt = try container.decodeIfPresent(Int.self, forKey: .hingeAt) ?? 0
    }

    /// Refuses a negative or infinite exponent and a negative hinge.
    public func validate() throws(CoreError) {
        guard exponent >= 0, exponent.isFinite, exponent <= 100 else {
            throw .invalidTraining("staleness exponent must be within 0...100, not \(exponent)")
        }
        guard hingeAt >= 0 else { throw .invalidTraining("staleness hinge_at must be >= 0") }
    }

    /// The weight of an update `staleness` versions old (staleness >= 0), within (0, 1].
    public func weight(staleness: Int) -> Double {
        let s = Double(max(0, staleness))
        switch function {
        case .constant: return 1
        case .polynomial: return pow(1 + s, -exponent)
        case .hinge: return staleness <= hingeAt ? 1 : 1 / (1 + exponent * (s - Double(hingeAt)))
        }
    }
}
