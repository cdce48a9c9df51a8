import FoundationEssentials
import Glibc

/// Samples FedMQ needs from any generator: uniform, standard normal, gamma and Dirichlet.
extension RandomNumberGenerator {
    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Standard normal by the Box–Muller transform.
    public mutating func nextGaussian() -> Double {
        var u = nextUnit()
        while u == 0 { u = nextUnit() }
        let v = nextUnit()
        return (-2 * Glibc.log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    /// Gamma(shape, 1) by Marsaglia and Tsang's method (boosted for shape < 1).
    public mutating func nextGamma(shape: Double) -> Double {
        precondition(shape > 0, "gamma shape must be positive")
        if shape < 1 {
            let boost = Glibc.pow(max(nextUnit(), .leastNonzeroMagnitude), 1 / shape)
            return nextGamma(shape: shape + 1) * boost
        }
        let d = shape - 1.0 / 3
        let c = 1 / (9 * d).squareRoot()
        while true {
            let x = nextGaussian()
            let v = Glibc.pow(1 + c * x, 3)
            if v <= 0 { continue }
            let u = nextUnit()
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if Glibc.log(max(u, .leastNonzeroMagnitude)) < 0.5 * x * x + d * (1 - v + Glibc.log(v)) {
                return d * v
            }
        }
    }

    /// A draw from Dirichlet(alpha, ..., alpha) over `count` categories.
    public mutating func nextDirichlet(alpha: Double, count: Int) -> [Double] {
        let draws = (0..<count).map { _ in nextGamma(shape: alpha) }
        let total = draws.reduce(0, +)
        return total > 0 ? draws.map { $0 / total } : [Double](repeating: 1 / Double(count), count: count)
    }
}
