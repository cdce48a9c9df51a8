/// One query's answer, read from the fleet's (noisy) sum of the agents' vectors. With privacy
/// noise the answer is post-processed into its domain: counts are at least 0, a mean lies in the
/// range, a variance in [0, (high − low)²/4], quantiles in the range.
public struct AnalyticsAnswer: Codable, Sendable, Equatable, CustomStringConvertible {
    /// The query, in its text form (`AnalyticsQuery.description`).
    public var query: String
    /// count, sum, mean or variance; nil for histograms and quantiles, and when the noisy count
    /// of records is not positive (a mean of nothing).
    public var value: Double?
    /// A variance query's mean (its slice holds both).
    public var mean: Double?
    /// A histogram's counts, one per equal bin of the range.
    public var histogram: [Double]?
    /// A quantiles query's values, one per level.
    public var quantiles: [Double]?
    /// The (noisy) number of records the answer weighs, each agent counting at most
    /// `max_records`.
    public var records: Double

    /// One line: the query, its answer and the records behind it.
    public var description: String {
        func number(_ value: Double) -> String { PrintfFormat.string("%.6g", value) }
        let result =
            if let value { number(value) } else if let histogram { "[" + histogram.map(number).joined(separator: ", ") + "]" } else if let quantiles {
                "[" + quantiles.map(number).joined(separator: ", ") + "]"
            } else { "no records" }
        return "\(query) = \(result) (\(number(records)) records)"
    }

    /// Every query's answer from the sum of the agents' vectors (`sums`, in units of
    /// `max_records` records).
    public static func answers(_ settings: AnalyticsSettings, sums: [Double]) throws(CoreError) -> [AnalyticsAnswer] {
        let layout = settings.layout
        guard sums.count == layout.count else {
            throw .invalidData("a sum of \(sums.count) statistics does not fit the queries' \(layout.count)")
        }
        let unit = Double(settings.maxRecords)
        return zip(settings.queries, layout.slices).map { query, slice in
            answer(query, Array(sums[slice]).map { $0 * unit })
        }
    }

    /// The answer from one query's slice, already in records.
    static func answer(_ query: AnalyticsQuery, _ entries: [Double]) -> AnalyticsAnswer {
        let bounds = query.bounds
        let centre = (bounds.lowerBound + bounds.upperBound) / 2
        let halfWidth = (bounds.upperBound - bounds.lowerBound) / 2
        var answer = AnalyticsAnswer(query: query.description, records: max(0, entries[0]))
        switch query.statistic {
        case .count:
            answer.value = answer.records
        case .sum:
            let value = halfWidth * entries[1] + centre * entries[0]
            answer.value = min(bounds.upperBound * answer.records, max(bounds.lowerBound * answer.records, value))
            if answer.records == 0 { answer.value = 0 }
        case .mean:
            guard entries[0] > 0 else { return answer }
            answer.value = min(bounds.upperBound, max(bounds.lowerBound, centre + halfWidth * entries[1] / entries[0]))
        case .variance:
            guard entries[0] > 0 else { return answer }
            let first = min(1, max(-1, entries[1] / entries[0]))
            let second = min(1, max(0, entries[2] / entries[0]))
            answer.mean = centre + halfWidth * first
            answer.value = min(1, max(0, second - first * first)) * halfWidth * halfWidth
        case .histogram:
            answer.histogram = entries.map { max(0, $0) }
            answer.records = answer.histogram?.reduce(0, +) ?? 0
        case .quantiles:
            // The raw noisy counts: clamping each bin at 0 would add the noise's positive half
            // in every empty bin and push the quantiles up; their running sum is unbiased.
            let cumulative = entries.reduce(into: [Double]()) { $0.append(($0.last ?? 0) + $1) }
            answer.records = max(0, cumulative.last ?? 0)
            if answer.records > 0 {
                answer.quantiles = (query.levels ?? []).map { quantile($0, cumulative: cumulative, bounds: bounds) }
            }
        }
        return answer
    }

    /// The value below which `level` of the records lie: the first bin whose (running maximum
    /// of the) cumulative count reaches `level` of the total, interpolated linearly within it.
    static func quantile(_ level: Double, cumulative: [Double], bounds: ClosedRange<Double>) -> Double {
        let target = level * (cumulative.last ?? 0)
        let width = (bounds.upperBound - bounds.lowerBound) / Double(cumulative.count)
        var below = 0.0
        for (bin, reached) in cumulative.enumerated() where reached > below {
            if reached >= target {
                let fraction = min(1, max(0, (target - below) / (reached - below)))
                return bounds.lowerBound + (Double(bin) + fraction) * width
            }
            below = reached
        }
        return bounds.upperBound
    }
}
