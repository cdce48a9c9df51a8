/// Where each query's sufficient statistics lie in an agent's vector, one slice per query:
/// - `count`: [records]
/// - `sum`, `mean`: [records, Σ y]
/// - `variance`: [records, Σ y, Σ y²]
/// - `histogram`, `quantiles`: one count per bin
///
/// y = (clamp(x) − centre) / half-width lies in [−1, 1], so every entry one record adds lies in
/// [−1, 1]. A record's own vector has an L2 norm of at most √(Σ entries per query that it
/// touches): 1 for a count or a histogram (one bin), √2 for a sum or mean, √3 for a variance.
public struct StatisticsLayout: Sendable, Equatable {
    /// Each query's first entry and entry count.
    public let slices: [Range<Int>]
    /// Entries in all.
    public let count: Int
    /// The largest L2 norm of one record's vector.
    public let recordNormBound: Double
    /// The largest L2 distance between two records' vectors (the diameter of the set they lie
    /// in): per query 0 for a count, 2 for a sum, mean or variance ([1, y, y²] with y = ±1), √2
    /// for a histogram or quantiles (two different bins).
    public let recordDiameter: Double

    /// The layout of `queries`, in their order.
    public init(queries: [AnalyticsQuery]) {
        var slices: [Range<Int>] = []
        var start = 0
        var squares = 0
        var diameterSquares = 0
        for query in queries {
            let width = Self.width(of: query)
            slices.append(start..<(start + width))
            start += width
            squares += query.binCount == nil ? width : 1
            diameterSquares += query.binCount != nil ? 2 : (query.statistic == .count ? 0 : 4)
        }
        self.slices = slices
        count = start
        recordNormBound = Double(squares).squareRoot()
        recordDiameter = Double(diameterSquares).squareRoot()
    }

    /// The entries of one query's slice.
    static func width(of query: AnalyticsQuery) -> Int {
        switch query.statistic {
        case .count: 1
        case .sum, .mean: 2
        case .variance: 3
        case .histogram, .quantiles: query.binCount ?? 1
        }
    }

    /// The name of the single tensor the vector travels as (in a `statistics` model).
    public static let tensorName = "statistics"
}
