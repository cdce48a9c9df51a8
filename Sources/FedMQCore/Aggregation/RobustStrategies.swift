import FoundationEssentials

/// Strategies that need every delta of the round at once: they keep them (O(n × model)
/// memory) and do their work in `finish`. Each returns global + the robust aggregate of the
/// deltas; example counts are ignored (one update, one vote).
public struct BufferedRobustStrategy: AggregationStrategy {
    /// Which robust rule combines the deltas.
    public enum Rule: Sendable, Equatable {
        /// Coordinate-wise median (Yin et al. 2018).
        case median
        /// Coordinate-wise mean after dropping the floor(β·n) lowest and highest values.
        case trimmedMean(beta: Double)
        /// The update whose n − f − 2 nearest neighbours are closest (Blanchard et al. 2017).
        case krum(f: Int)
        /// The mean of the m best-scored updates by Krum's score.
        case multiKrum(f: Int, m: Int)
        /// Krum-selects n − 2f updates, then per coordinate averages the n − 4f values closest
        /// to the median (El Mhamdi et al. 2018). Needs n ≥ 4f + 3.
        case bulyan(f: Int)
    }

    public let rule: Rule
    private var global: Parameters?

    /// The fewest updates the rule can aggregate: a round closing with fewer would fail.
    public var minimumUpdates: Int {
        switch rule {
        case .median, .trimmedMean: 1
        case .krum(let f): f + 3
        case .multiKrum(let f, let m): max(f + 3, m)
        case .bulyan(let f): 4 * f + 3
        }
    }
    private var deltas: [[Float]] = []

    /// A strategy that keeps every delta of the round and combines them by `rule`.
    public init(rule: Rule) {
        self.rule = rule
    }

    /// Starts a round on the current global model.
    public mutating func begin(global: Parameters) {
        self.global = global
        deltas = []
    }

    /// Keeps one agent's delta until the round finishes (robust rules need them all).
    public mutating func add(delta: Parameters, examples: Int) throws(CoreError) {
        guard let global else { throw .invalidTraining("add called before begin") }
        try global.checkCompatible(with: delta)
        deltas.append(delta.tensors.flatMap(\.values))
    }

    /// The new global model: the old one plus the rule's combination of the deltas.
    public mutating func finish() throws(CoreError) -> Parameters {
        guard var model = global else { throw .invalidTraining("finish called before begin") }
        guard !deltas.isEmpty else { throw .invalidTraining("no update to aggregate") }
        let aggregate = try Self.aggregate(deltas, rule: rule)
        var offset = 0
        for index in model.tensors.indices {
            model.withValues(at: index) { values in
                for i in values.indices { values[i] += aggregate[offset + i] }
                offset += values.count
            }
        }
        return model
    }

    static func aggregate(_ updates: [[Float]], rule: Rule) throws(CoreError) -> [Float] {
        let n = updates.count
        switch rule {
        case .median:
            return coordinatewise(updates) { sorted in
                sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            }
        case .trimmedMean(let beta):
            guard (0..<0.5).contains(beta) else { throw .invalidTraining("trimmed mean needs 0 <= beta < 0.5") }
            let cut = Int((beta * Double(n)).rounded(.down))
            return coordinatewise(updates) { sorted in mean(sorted[cut..<(sorted.count - cut)]) }
        case .krum(let f):
            return updates[try krumOrder(updates, f: f)[0]]
        case .multiKrum(let f, let m):
            guard (1...n).contains(m) else { throw .invalidTraining("multi-Krum needs 1 <= m <= n") }
            let chosen = try krumOrder(updates, f: f).prefix(m).map { updates[$0] }
            return coordinatewise(chosen) { mean($0[...]) }
        case .bulyan(let f):
            guard n >= 4 * f + 3 else { throw .invalidTraining("Bulyan needs n >= 4f + 3 updates (n = \(n), f = \(f))") }
            var remaining = updates
            var selected: [[Float]] = []
            while selected.count < n - 2 * f {
                let best = try krumOrder(remaining, f: f, allowSmall: true)[0]
                selected.append(remaining.remove(at: best))
            }
            let keep = selected.count - 2 * f
            return coordinatewise(selected) { sorted in
                let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
                let closest = sorted.sorted { abs($0 - median) < abs($1 - median) }.prefix(keep)
                return mean(closest[...])
            }
        }
    }

    /// Update indices by Krum score, best first.
    static func krumOrder(_ updates: [[Float]], f: Int, allowSmall: Bool = false) throws(CoreError) -> [Int] {
        let n = updates.count
        let neighbours = n - f - 2
        guard f >= 0, neighbours >= 1 || (allowSmall && n >= 1) else {
            throw .invalidTraining("Krum needs n >= f + 3 updates (n = \(n), f = \(f))")
        }
        var distances = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n {
            for j in (i + 1)..<n {
                var sum = 0.0
                for k in updates[i].indices {
                    let d = Double(updates[i][k] - updates[j][k])
                    sum += d * d
                }
                distances[i][j] = sum
                distances[j][i] = sum
            }
        }
        let count = max(1, min(neighbours, n - 1))
        let scores = (0..<n).map { i in
            (0..<n).filter { $0 != i }.map { distances[i][$0] }.sorted().prefix(count).reduce(0, +)
        }
        return (0..<n).sorted { (scores[$0], $0) < (scores[$1], $1) }
    }

    private static func coordinatewise(_ updates: [[Float]], _ combine: ([Float]) -> Float) -> [Float] {
        guard let first = updates.first else { return [] }
        var column = [Float](repeating: 0, count: updates.count)
        return (0..<first.count).map { k in
            for (i, update) in updates.enumerated() { column[i] = update[k] }
            return combine(column.sorted())
        }
    }

    private static func mean(_ values: ArraySlice<Float>) -> Float {
        values.isEmpty ? 0 : Float(values.reduce(0.0) { $0 + Double($1) } / Double(values.count))
    }
}
