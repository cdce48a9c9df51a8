import FoundationEssentials
import Glibc

/// Differentially private statistics for federated analytics, with the mechanisms
/// diffprivlib uses (so results can be compared): data are clipped to `bounds` first, the
/// whole epsilon goes to one mechanism, and each output stays in its domain.
///
/// Pass a cryptographically secure generator in production (`SystemRandomNumberGenerator`).
public enum DPStatistics {
    /// Mean: Laplace noise with scale ((u − l)/n)/ε, output clamped to [l, u].
    public static func mean(
        _ data: [Double], bounds: ClosedRange<Double>, epsilon: Double, using random: inout some RandomNumberGenerator
    ) throws(CoreError) -> Double {
        let clipped = try clip(data, bounds, epsilon)
        let sensitivity = (bounds.upperBound - bounds.lowerBound) / Double(clipped.count)
        let noisy = clipped.reduce(0, +) / Double(clipped.count) + laplace(scale: sensitivity / epsilon, using: &random)
        return min(bounds.upperBound, max(bounds.lowerBound, noisy))
    }

    /// Sum: Laplace noise with scale (u − l)/ε, output clamped to [l·n, u·n].
    public static func sum(
        _ data: [Double], bounds: ClosedRange<Double>, epsilon: Double, using random: inout some RandomNumberGenerator
    ) throws(CoreError) -> Double {
        let clipped = try clip(data, bounds, epsilon)
        let n = Double(clipped.count)
        let noisy = clipped.reduce(0, +) + laplace(scale: (bounds.upperBound - bounds.lowerBound) / epsilon, using: &random)
        return min(bounds.upperBound * n, max(bounds.lowerBound * n, noisy))
    }

    /// Population variance: Laplace noise conditioned on the domain [0, (u − l)²/4]
    /// (redrawn until inside), with the scale of Holohan et al. (2020) for bounded domains.
    public static func variance(
        _ data: [Double], bounds: ClosedRange<Double>, epsilon: Double, using random: inout some RandomNumberGenerator
    ) throws(CoreError) -> Double {
        let clipped = try clip(data, bounds, epsilon)
        let n = Double(clipped.count)
        let mean = clipped.reduce(0, +) / n
        let variance = clipped.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        let width = bounds.upperBound - bounds.lowerBound
        let sensitivity = (width / n) * (width / n) * (n - 1)
        let domain = 0...(width * width / 4)
        let scale = boundedDomainScale(sensitivity: sensitivity, epsilon: epsilon, domainWidth: domain.upperBound)
        let value = min(domain.upperBound, max(domain.lowerBound, variance))
        while true {
            let noisy = value + laplace(scale: scale, using: &random)
            if domain.contains(noisy) { return noisy }
        }
    }

    /// Standard deviation: the square root of `variance`.
    public static func standardDeviation(
        _ data: [Double], bounds: ClosedRange<Double>, epsilon: Double, using random: inout some RandomNumberGenerator
    ) throws(CoreError) -> Double {
        try variance(data, bounds: bounds, epsilon: epsilon, using: &random).squareRoot()
    }

    /// Count: two-sided geometric noise (sensitivity 1), clamped at 0.
    public static func count(_ count: Int, epsilon: Double, using random: inout some RandomNumberGenerator) throws(CoreError) -> Int {
        guard epsilon > 0, epsilon.isFinite, count >= 0 else { throw .invalidData("count needs epsilon > 0 and a count >= 0") }
        return max(0, count + twoSidedGeometric(p: exp(-epsilon), using: &random))
    }

    /// Histogram of `data` in `bins` equal bins over `range` (values outside are dropped; the
    /// last bin includes its upper edge), each count with two-sided geometric noise at the full
    /// epsilon (one record changes one bin), clamped at 0.
    public static func histogram(
        _ data: [Double], bins: Int, range: ClosedRange<Double>, epsilon: Double, using random: inout some RandomNumberGenerator
    ) throws(CoreError) -> [Int] {
        guard bins >= 1, range.upperBound > range.lowerBound else { throw .invalidData("histogram needs bins >= 1 and a non-empty range") }
        var counts = [Int](repeating: 0, count: bins)
        let width = (range.upperBound - range.lowerBound) / Double(bins)
        for value in data where range.contains(value) {
            counts[min(bins - 1, Int((value - range.lowerBound) / width))] += 1
        }
        var noisy: [Int] = []
        for count in counts { noisy.append(try self.count(count, epsilon: epsilon, using: &random)) }
        return noisy
    }

    /// The Laplace scale b with b = Δ / (ε − log ΔC(b)), ΔC(b) = (2 − e^{−Δ/b} − e^{−(D−Δ)/b}) /
    /// (1 − e^{−D/b}), found by bisection from the naive scale Δ/ε (diffprivlib's method).
    public static func boundedDomainScale(sensitivity: Double, epsilon: Double, domainWidth: Double) -> Double {
        func deltaC(_ b: Double) -> Double {
            b == 0 ? 2 : (2 - exp(-sensitivity / b) - exp(-(domainWidth - sensitivity) / b)) / (1 - exp(-domainWidth / b))
        }
        func f(_ b: Double) -> Double { sensitivity / (epsilon - log(deltaC(b))) }
        var left = sensitivity / epsilon
        var right = f(left)
        var previous = (right - left) * 2
        while previous > right - left {
            previous = right - left
            let middle = (left + right) / 2
            if f(middle) >= middle { left = middle }
            if f(middle) <= middle { right = middle }
        }
        return (left + right) / 2
    }

    static func laplace(scale: Double, using random: inout some RandomNumberGenerator) -> Double {
        var u = random.nextUnit() - 0.5
        while u == -0.5 { u = random.nextUnit() - 0.5 }
        return -scale * (u < 0 ? -1 : 1) * log1p(-2 * abs(u))
    }

    /// P(k) = (1 − p)/(1 + p) · p^|k|: the difference of two geometric draws.
    static func twoSidedGeometric(p: Double, using random: inout some RandomNumberGenerator) -> Int {
        func geometric() -> Int {
            var u = random.nextUnit()
            while u == 0 { u = random.nextUnit() }
            return Int((log(u) / log(p)).rounded(.down))
        }
        return geometric() - geometric()
    }

    private static func clip(_ data: [Double], _ bounds: ClosedRange<Double>, _ epsilon: Double) throws(CoreError) -> [Double] {
        guard !data.isEmpty else { throw .invalidData("no data") }
        guard epsilon > 0, epsilon.isFinite else { throw .invalidData("epsilon must be positive") }
        guard bounds.lowerBound.isFinite, bounds.upperBound.isFinite, bounds.upperBound > bounds.lowerBound else {
            throw .invalidData("bounds must be finite with upper > lower")
        }
        guard data.allSatisfy(\.isFinite) else { throw .invalidData("data holds NaN or infinite values") }
        return data.map { min(bounds.upperBound, max(bounds.lowerBound, $0)) }
    }
}
