import FoundationEssentials
import Glibc

/// A Rényi-DP accountant shaped like dp-accounting's `RdpAccountant`: compose events, then
/// ask for epsilon at a delta. Orders and the RDP-to-(epsilon, delta) conversion are
/// dp-accounting's defaults (the improved conversion of Canonne, Kamath and Steinke 2020).
public struct RDPAccountant: Sendable, Equatable, Codable {
    /// dp-accounting's DEFAULT_RDP_ORDERS: 1.1 ... 10.9 by 0.1, 11 ... 63, 128, 256, 512, 1024.
    public static let defaultOrders: [Double] = {
        let fractional: [Double] = (1...99).map { (step: Int) -> Double in 1 + Double(step) / 10 }
        let whole: [Double] = (11...63).map { Double($0) }
        return fractional + whole + [128, 256, 512, 1024]
    }()

    public let orders: [Double]
    /// Total RDP at each order.
    public private(set) var rdp: [Double]
    /// Σ 1/z² over everything composed while it was all plain Gaussian mechanisms (no sampling):
    /// the composition is then one Gaussian mechanism, whose exact epsilon `exactEpsilon` gives.
    /// Nil once anything else was composed (or for an accountant saved before this was kept).
    public private(set) var gaussianPrecision: Double?

    /// An accountant with nothing spent, tracking these Rényi orders.
    public init(orders: [Double] = RDPAccountant.defaultOrders) {
        self.orders = orders
        rdp = [Double](repeating: 0, count: orders.count)
        gaussianPrecision = 0
    }

    enum CodingKeys: String, CodingKey {
        case orders, rdp
        case gaussianPrecision = "gaussian_precision"
    }

    /// Adds `event`, `count` times.
    public mutating func compose(_ event: DPEvent, count: Int = 1) throws(CoreError) {
        let perOrder = try Self.rdp(of: event, orders: orders)
        for index in rdp.indices { rdp[index] += Double(count) * perOrder[index] }
        gaussianPrecision = gaussianPrecision.flatMap { total in Self.precision(of: event).map { total + Double(count) * $0 } }
    }

    /// The exact epsilon at `delta` (`AnalyticGaussian`) when everything composed was a plain
    /// Gaussian mechanism; nil otherwise (then only the RDP bound is known).
    public func exactEpsilon(delta: Double) -> Double? {
        guard let gaussianPrecision else { return nil }
        guard gaussianPrecision > 0 else { return 0 }
        return AnalyticGaussian.epsilon(delta: delta, sigma: 1 / gaussianPrecision.squareRoot())
    }

    /// Σ 1/z² of `event` if it is made of plain Gaussian mechanisms only.
    static func precision(of event: DPEvent) -> Double? {
        switch event {
        case .gaussian(let z): return 1 / (z * z)
        case .poissonSampled(let q, let inner): return q >= 1 ? precision(of: inner) : nil
        case .selfComposed(let inner, let count): return precision(of: inner).map { Double(count) * $0 }
        case .composed(let events):
            var total = 0.0
            for inner in events {
                guard let part = precision(of: inner) else { return nil }
                total += part
            }
            return total
        }
    }

    /// The smallest epsilon over the orders at `delta`, and the order that gives it.
    public func epsilon(delta: Double) -> (epsilon: Double, order: Double) {
        Self.epsilon(rdp: rdp, orders: orders, delta: delta)
    }

    static func rdp(of event: DPEvent, orders: [Double]) throws(CoreError) -> [Double] {
        switch event {
        case .gaussian(let z):
            guard z >= 0, z.isFinite else { throw .invalidTraining("noise multiplier must be finite and >= 0") }
            return orders.map { RDPMath.gaussian(q: 1, z: z, order: $0) }
        case .poissonSampled(let q, .gaussian(let z)):
            guard (0...1).contains(q), z >= 0, z.isFinite else { throw .invalidTraining("sampling probability must be in [0, 1]") }
            return orders.map { RDPMath.gaussian(q: q, z: z, order: $0) }
        case .poissonSampled:
            throw .invalidTraining("only the Gaussian mechanism can be Poisson-sampled here")
        case .selfComposed(let inner, let count):
            guard count >= 0 else { throw .invalidTraining("composition count must be >= 0") }
            return try rdp(of: inner, orders: orders).map { Double(count) * $0 }
        case .composed(let events):
            var total = [Double](repeating: 0, count: orders.count)
            for inner in events {
                let part = try rdp(of: inner, orders: orders)
                for index in total.indices { total[index] += part[index] }
            }
            return total
        }
    }

    /// dp-accounting's conversion: for each order α > 1.01,
    /// ε(α) = rdp(α) + log1p(−1/α) − log(δ·α)/(α−1), or 0 where δ² + expm1(−rdp(α)) > 0;
    /// ε = max(0, min over α).
    static func epsilon(rdp: [Double], orders: [Double], delta: Double) -> (epsilon: Double, order: Double) {
        if delta <= 0 { return (rdp.allSatisfy { $0 == 0 } ? 0 : .infinity, 0) }
        var best = (epsilon: Double.infinity, order: orders.first ?? 0)
        for (alpha, value) in zip(orders, rdp) {
            let epsilon: Double
            if value < 0 || delta * delta + expm1(-value) > 0 {
                epsilon = 0
            } else if alpha > 1.01, value.isFinite {
                epsilon = value + log1p(-1 / alpha) - log(delta * alpha) / (alpha - 1)
            } else {
                epsilon = .infinity
            }
            if epsilon < best.epsilon { best = (epsilon, alpha) }
        }
        return (max(0, best.epsilon), best.order)
    }

    /// The smallest noise multiplier (to 1e-4) for which `steps` Poisson-sampled Gaussian
    /// steps at rate `q` stay within `targetEpsilon` at `delta`: bisection over [0.1, 100].
    public static func noiseMultiplier(
        targetEpsilon: Double, delta: Double, samplingProbability q: Double, steps: Int, orders: [Double] = defaultOrders
    ) throws(CoreError) -> Double {
        func epsilon(_ z: Double) throws(CoreError) -> Double {
            var accountant = RDPAccountant(orders: orders)
            let step: DPEvent = q >= 1 ? .gaussian(noiseMultiplier: z) : .poissonSampled(probability: q, event: .gaussian(noiseMultiplier: z))
            try accountant.compose(step, count: steps)
            return accountant.epsilon(delta: delta).epsilon
        }
        var (low, high) = (0.1, 100.0)
        guard try epsilon(high) <= targetEpsilon else {
            throw .invalidTraining("epsilon \(targetEpsilon) is out of reach even with noise multiplier 100")
        }
        while high - low > 1e-4 {
            let middle = (low + high) / 2
            if try epsilon(middle) <= targetEpsilon { high = middle } else { low = middle }
        }
        return high
    }
}
