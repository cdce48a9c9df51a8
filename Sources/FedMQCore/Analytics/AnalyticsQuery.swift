/// One statistic a federated analytics job asks of the fleet's data: a count of records, or a
/// sum, mean, variance, histogram or quantiles of one named column over a declared range.
///
/// The range is part of the privacy promise: values are clamped to it before they are counted,
/// so one record moves the answer by a known amount. It is required and checked for every
/// statistic of a column.
public struct AnalyticsQuery: Codable, Sendable, Equatable, CustomStringConvertible {
    /// What is computed.
    public enum Statistic: String, Codable, Sendable, CaseIterable {
        case count, sum, mean, variance, histogram, quantiles
    }

    public var statistic: Statistic
    /// The column (a header name in the agents' CSV); nil only for `count`.
    public var column: String?
    /// [low, high]: values are clamped to it.
    public var range: [Double]?
    /// Equal bins over the range: histograms (default 10) and quantiles (default 32; more bins
    /// resolve finer but each carries its own noise).
    public var bins: Int?
    /// The levels in (0, 1) a `quantiles` query asks for.
    public var levels: [Double]?

    /// A query of `statistic` over `column` within `range`.
    public init(_ statistic: Statistic, column: String? = nil, range: ClosedRange<Double>? = nil, bins: Int? = nil, levels: [Double]? = nil) {
        self.statistic = statistic
        self.column = column
        self.range = range.map { [$0.lowerBound, $0.upperBound] }
        self.bins = bins
        self.levels = levels
    }

    /// Most bins one query may ask for.
    public static let maxBins = 10_000

    /// The clamping range, once validated.
    public var bounds: ClosedRange<Double> {
        guard let range, range.count == 2, range[0] < range[1] else { return 0...1 }
        return range[0]...range[1]
    }

    /// The bins the answer is counted in (histograms and quantiles), else nil.
    public var binCount: Int? {
        switch statistic {
        case .histogram: bins ?? 10
        case .quantiles: bins ?? 32
        default: nil
        }
    }

    /// Refuses a query the fleet cannot answer with a bounded contribution, naming what is wrong.
    public func validate() throws(CoreError) {
        func invalid(_ reason: String) -> CoreError { .invalidQuery(query: description, reason: reason) }
        if statistic == .count {
            guard column == nil, range == nil, bins == nil, levels == nil else { throw invalid("count takes no column, range, bins or levels") }
            return
        }
        guard let column, !column.isEmpty, column.count <= 256 else { throw invalid("a \(statistic.rawValue) needs a column name") }
        guard let range, range.count == 2, range.allSatisfy(\.isFinite), range[0] < range[1], range.allSatisfy({ abs($0) <= 1e15 }) else {
            throw invalid("range must be [low, high] with finite low < high (values are clamped to it: it bounds one record's influence)")
        }
        if statistic != .histogram && statistic != .quantiles, bins != nil { throw invalid("only histograms and quantiles take bins") }
        if let binCount, !(1...Self.maxBins).contains(binCount) { throw invalid("bins must be within 1...\(Self.maxBins)") }
        if statistic == .quantiles {
            guard let levels, !levels.isEmpty, levels.count <= 100, levels.allSatisfy({ $0 > 0 && $0 < 1 }) else {
                throw invalid("quantiles need 1 to 100 levels, each strictly between 0 and 1")
            }
        } else if levels != nil {
            throw invalid("only quantiles take levels")
        }
    }

    /// The text form: `count`, `mean:COLUMN:LOW:HIGH` (also sum, variance),
    /// `histogram:COLUMN:LOW:HIGH[:BINS]`, `quantiles:COLUMN:LOW:HIGH:L1,L2,...[:BINS]`.
    public var description: String {
        guard statistic != .count else { return "count" }
        let range = self.range.map { $0.map { "\($0)" }.joined(separator: ":") } ?? "?:?"
        var text = "\(statistic.rawValue):\(column ?? "?"):\(range)"
        if let levels { text += ":" + levels.map { "\($0)" }.joined(separator: ",") }
        if let bins { text += ":\(bins)" }
        return text
    }

    /// Parses the text form (see `description`) and validates the query.
    public static func parse(_ text: String) throws(CoreError) -> AnalyticsQuery {
        func invalid(_ reason: String) -> CoreError { .invalidQuery(query: text, reason: reason) }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard let statistic = Statistic(rawValue: parts[0]) else {
            throw invalid("unknown statistic '\(parts[0])' (valid: \(Statistic.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        var query = AnalyticsQuery(statistic)
        guard statistic != .count else {
            guard parts.count == 1 else { throw invalid("count takes no column or range") }
            return query
        }
        let most = statistic == .quantiles ? 6 : (statistic == .histogram ? 5 : 4)
        let least = statistic == .quantiles ? 5 : 4
        guard (least...most).contains(parts.count) else {
            throw invalid("expected \(statistic.rawValue):COLUMN:LOW:HIGH\(statistic == .quantiles ? ":LEVELS" : "")\(most > least ? "[:BINS]" : "")")
        }
        guard let low = Double(parts[2]), let high = Double(parts[3]) else { throw invalid("LOW and HIGH must be numbers") }
        query.column = parts[1]
        query.range = [low, high]
        if statistic == .quantiles {
            let levels = parts[4].split(separator: ",").map { Double($0) }
            guard !levels.isEmpty, levels.allSatisfy({ $0 != nil }) else { throw invalid("LEVELS must be numbers separated by commas") }
            query.levels = levels.compactMap { $0 }
        }
        if parts.count == most && most > least {
            guard let bins = Int(parts[most - 1]) else { throw invalid("BINS must be a whole number") }
            query.bins = bins
        }
        do {
            try query.validate()
        } catch {
            // Named as the user wrote it.
            guard case .invalidQuery(_, let reason) = error else { throw error }
            throw invalid(reason)
        }
        return query
    }
}
