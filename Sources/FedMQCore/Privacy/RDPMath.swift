import FoundationEssentials
import Glibc

/// Rényi-DP of the (subsampled) Gaussian mechanism, per step and order, following
/// Mironov, Talwar and Zhang (2019). Integer orders use the closed-form binomial sum;
/// fractional orders use the sign-aware two-series expansion, which gives the exact value.
enum RDPMath {
    /// RDP at `order` of one step of the Gaussian mechanism with noise multiplier `z`, applied
    /// to a Poisson sample with probability `q` (q = 1: no sampling).
    static func gaussian(q: Double, z: Double, order: Double) -> Double {
        if q == 0 { return 0 }
        if z == 0 { return .infinity }
        if q == 1 { return order / (2 * z * z) }
        let logA = order == order.rounded() ? logAInteger(q: q, z: z, order: Int(order)) : logAFractional(q: q, z: z, order: order)
        return logA / (order - 1)
    }

    private static func logAInteger(q: Double, z: Double, order alpha: Int) -> Double {
        var logA = -Double.infinity
        for i in 0...alpha {
            let term =
                logBinomial(Double(alpha), Double(i)) + Double(i) * log(q) + Double(alpha - i) * log1p(-q)
                + Double(i * i - i) / (2 * z * z)
            logA = logAdd(logA, term)
        }
        return logA
    }

    private static func logAFractional(q: Double, z: Double, order alpha: Double) -> Double {
        var logA0 = -Double.infinity
        var logA1 = -Double.infinity
        let z0 = z * z * log(1 / q - 1) + 0.5
        var coefficient = 1.0  // binomial(alpha, i), with its sign, built up term by term
        var i = 0.0
        while true {
            let logCoefficient = log(abs(coefficient))
            let j = alpha - i
            let logT0 = logCoefficient + i * log(q) + j * log1p(-q)
            let logT1 = logCoefficient + j * log(q) + i * log1p(-q)
            let logE0 = log(0.5) + logErfc((i - z0) / (2.0.squareRoot() * z))
            let logE1 = log(0.5) + logErfc((z0 - j) / (2.0.squareRoot() * z))
            let logS0 = logT0 + (i * i - i) / (2 * z * z) + logE0
            let logS1 = logT1 + (j * j - j) / (2 * z * z) + logE1
            if coefficient > 0 {
                logA0 = logAdd(logA0, logS0)
                logA1 = logAdd(logA1, logS1)
            } else {
                logA0 = logSubtract(logA0, logS0)
                logA1 = logSubtract(logA1, logS1)
            }
            i += 1
            if max(logS0, logS1) < -30 || i > 100_000 { break }
            coefficient *= (alpha - i + 1) / i
            if coefficient == 0 { break }
        }
        return logAdd(logA0, logA1)
    }

    static func logBinomial(_ n: Double, _ k: Double) -> Double {
        lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)
    }

    static func logAdd(_ a: Double, _ b: Double) -> Double {
        let (high, low) = a > b ? (a, b) : (b, a)
        if low == -.infinity { return high }
        return high + log1p(exp(low - high))
    }

    /// log(exp(a) - exp(b)); -infinity when they are equal. Requires a >= b.
    static func logSubtract(_ a: Double, _ b: Double) -> Double {
        if b == -.infinity { return a }
        if a <= b { return -.infinity }
        return a + log(-expm1(b - a))
    }

    /// log(erfc(x)). The fractional series needs it far into the tail (x in the thousands),
    /// where erfc first loses precision as a subnormal and then underflows; from x > 20 the
    /// asymptotic expansion is accurate to about 1e-12 and is used instead.
    static func logErfc(_ x: Double) -> Double {
        if x <= 20 { return log(erfc(x)) }
        let x2 = x * x
        return -log(Double.pi) / 2 - log(x) - x2 - 0.5 / x2 + 0.625 / (x2 * x2) - 37.0 / 24.0 / (x2 * x2 * x2)
            + 353.0 / 64.0 / (x2 * x2 * x2 * x2)
    }
}
