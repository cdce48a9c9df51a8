import FoundationEssentials
import Glibc

/// A discretized privacy loss distribution: mass `masses[k]` at loss (lowIndex + k)·interval,
/// and `infinityMass` at +∞, as dp-accounting's PLD accountant keeps it. Built pessimistically
/// from a mechanism's privacy curve by "connect the dots" (Doroshenko et al., PETS 2022), composed
/// by FFT, and read back as epsilon for a delta.
struct PrivacyLossPMF {
    var interval: Double
    var lowIndex: Int
    var masses: [Double]
    var infinityMass: Double

    /// The PLD whose hockey-stick divergence equals `delta(ε)` at every multiple of `interval`
    /// in [`lowLoss`, `highLoss`] and is linear in e^ε between them, so it dominates the
    /// mechanism. What lies beyond `highLoss` goes to +∞.
    static func connectingDots(interval: Double, lowLoss: Double, highLoss: Double, delta: (Double) -> Double) -> PrivacyLossPMF {
        let low = Int((lowLoss / interval).rounded(.down))
        let high = max(low + 1, Int((highLoss / interval).rounded(.up)))
        let deltas = (low...high).map { delta(Double($0) * interval) }
        let infinity = deltas[deltas.count - 1]
        var masses = [Double](repeating: 0, count: deltas.count)
        let step = -expm1(-interval)  // 1 − e^{−Δ}
        var tail = 0.0  // Σ_{j>k} p_j e^{−ε_j}
        var total = 0.0
        for k in stride(from: deltas.count - 1, to: 0, by: -1) {
            let epsilon = Double(low + k) * interval
            let mass = max(0, (deltas[k - 1] - deltas[k]) / step - exp(epsilon) * tail)
            masses[k] = mass
            tail += mass * exp(-epsilon)
            total += mass
        }
        masses[0] = max(0, 1 - infinity - total)
        return PrivacyLossPMF(interval: interval, lowIndex: low, masses: masses, infinityMass: infinity)
    }

    /// δ at `epsilon`: the infinity mass plus Σ p_k (1 − e^{ε − ε_k}) over losses above ε.
    func delta(epsilon: Double) -> Double {
        var sum = 0.0
        var k = max(0, Int((epsilon / interval).rounded(.down)) - lowIndex + 1)
        masses.withUnsafeBufferPointer { masses in
            guard let mass = masses.baseAddress else { return }
            while k < masses.count {
                let loss = Double(lowIndex + k) * interval
                if loss > epsilon { sum += mass[k] * -expm1(epsilon - loss) }
                k += 1
            }
        }
        return infinityMass + sum
    }

    /// The smallest epsilon >= 0 with δ(ε) <= `target`; infinity when the mass at +∞ alone exceeds it.
    func epsilon(delta target: Double) -> Double {
        guard infinityMass <= target else { return .infinity }
        guard delta(epsilon: 0) > target else { return 0 }
        var low = 0.0
        var high = max(interval, Double(lowIndex + masses.count) * interval)
        for _ in 0..<200 where high - low > 1e-12 * max(1, high) {
            let middle = (low + high) / 2
            if delta(epsilon: middle) > target { low = middle } else { high = middle }
        }
        return high
    }

    /// The distribution of the sum of `count` independent copies: by FFT over the window where
    /// all but `tailMass` of each tail lies (Chernoff bounds); what falls outside goes to +∞.
    func selfComposed(_ count: Int, tailMass: Double = 1e-15) -> PrivacyLossPMF {
        guard count > 1 else { return self }
        let (lower, upper) = window(count, tailMass: tailMass)
        let width = upper - lower + 1
        var size = 1
        while size < width { size <<= 1 }
        var real = [Double](repeating: 0, count: size)
        var imaginary = [Double](repeating: 0, count: size)
        for k in masses.indices { real[k % size] += masses[k] }
        FFT.transform(real: &real, imaginary: &imaginary, inverse: false)
        let power = Double(count)
        for f in 0..<size {
            let magnitude = (real[f] * real[f] + imaginary[f] * imaginary[f]).squareRoot()
            guard magnitude > 0 else { continue }
            let scaled = exp(power * log(magnitude))
            let angle = power * atan2(imaginary[f], real[f])
            real[f] = scaled * cos(angle)
            imaginary[f] = scaled * sin(angle)
        }
        FFT.transform(real: &real, imaginary: &imaginary, inverse: true)
        var composed = [Double](repeating: 0, count: width)
        var kept = 0.0
        for offset in 0..<width {
            let position = ((lower + offset) % size + size) % size
            let mass = max(0, real[position] / Double(size))
            composed[offset] = mass
            kept += mass
        }
        // Mass outside the window, aliasing, and the copies' own mass at +∞ all count as +∞.
        let finite = pow(1 - infinityMass, power)
        return PrivacyLossPMF(
            interval: interval, lowIndex: count * lowIndex + lower, masses: composed,
            infinityMass: min(1, max(1 - kept, 1 - finite) + 2 * tailMass))
    }

    /// Offsets (from count × lowIndex) outside of which the sum of `count` copies has at most
    /// `tailMass` on each side: the best of Chernoff's bounds over a grid of exponents.
    func window(_ count: Int, tailMass: Double) -> (lower: Int, upper: Int) {
        let top = count * (masses.count - 1)
        let logTail = log(tailMass)
        let power = Double(count)
        var positions: [Double] = []
        var logMasses: [Double] = []
        for k in masses.indices where masses[k] > 0 {
            positions.append(Double(k))
            logMasses.append(log(masses[k]))
        }
        var upper = Double(top)
        var lower = 0.0
        positions.withUnsafeBufferPointer { positions in
            logMasses.withUnsafeBufferPointer { logMasses in
                // Plain index loops over buffers: they cover the whole support for each of
                // about a hundred exponents, and in a debug build a generic iterator costs a
                // metadata lookup per element.
                func logMGF(_ t: Double) -> Double {
                    var best = -Double.infinity
                    var index = 0
                    while index < positions.count {
                        best = max(best, logMasses[index] + t * positions[index])
                        index += 1
                    }
                    var sum = 0.0
                    index = 0
                    while index < positions.count {
                        sum += exp(logMasses[index] + t * positions[index] - best)
                        index += 1
                    }
                    return best + log(sum)
                }
                var t = 1e-8
                while t < 10 {
                    upper = min(upper, (power * logMGF(t) - logTail) / t)
                    lower = max(lower, (logTail - power * logMGF(-t)) / t)
                    t *= 1.5
                }
            }
        }
        return (max(0, Int(lower.rounded(.down))), min(top, Int(upper.rounded(.up))))
    }
}
