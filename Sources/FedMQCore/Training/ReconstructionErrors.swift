import FoundationEssentials
import Glibc

/// An autoencoder's per-example reconstruction errors (the mean squared error over an
/// example's features), counted in fixed logarithmic bins so that agents can report them
/// without their values and the counts add up across a fleet. The anomaly threshold is a
/// quantile of the fleet's counts.
public enum ReconstructionErrors {
    /// Bin edges 10^(k/20) for k = −160 ... 80: 1e-8 to 1e4, twenty bins a decade (about 12%
    /// apart). Bin 0 holds errors below the first edge, the last bin those from the last edge on.
    public static let edges: [Double] = (-160...80).map { Glibc.pow(10, Double($0) / 20) }

    /// How many bins a histogram has.
    public static var binCount: Int { edges.count + 1 }

    /// The bin of `error`: the number of edges at or below it.
    public static func bin(of error: Double) -> Int {
        var (low, high) = (0, edges.count)
        while low < high {
            let middle = (low + high) / 2
            if edges[middle] <= error { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The counts of `errors` per bin.
    public static func histogram(_ errors: [Double]) -> [Int] {
        var counts = [Int](repeating: 0, count: binCount)
        for error in errors { counts[bin(of: error)] += 1 }
        return counts
    }

    /// The upper edge of the bin where the counts reach the `quantile` of their total: at most
    /// a (1 − quantile) share of the counted errors lie above it. Nil without counts, or when the
    /// quantile falls in the open last bin.
    public static func threshold(_ counts: [Int], quantile: Double) -> Double? {
        let total = counts.reduce(0, +)
        guard total > 0, counts.count == binCount else { return nil }
        let needed = quantile * Double(total)
        var cumulative = 0
        for (bin, count) in counts.enumerated() {
            cumulative += count
            if Double(cumulative) >= needed { return bin < edges.count ? edges[bin] : nil }
        }
        return nil
    }

    /// Whether `counts` is a histogram of `examples` errors.
    public static func isValid(_ counts: [Int], examples: Int) -> Bool {
        counts.count == binCount && counts.allSatisfy { $0 >= 0 && $0 <= examples } && counts.reduce(0, +) == examples
    }
}
