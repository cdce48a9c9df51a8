/// What one agent contributes to an analytics job: the sufficient statistics of its own records
/// (`StatisticsLayout`), in units of `max_records` records.
///
/// An agent with n records divides its sums by max(n, max_records): up to `max_records` records
/// count in full, and an agent holding more weighs `max_records` records of the same
/// distribution. Values are clamped to each query's range first; a record whose cell is missing
/// (NaN) is left out of that query only.
public enum LocalStatistics {
    /// The vector of `settings`' queries over `data`, and the records it weighs. `labelName` is
    /// the name the target column may be asked by (besides the feature names).
    public static func compute(
        _ settings: AnalyticsSettings, over data: Dataset, labelName: String? = nil
    ) throws(CoreError) -> (vector: [Float], records: Int) {
        guard data.count > 0 else { throw .invalidData("no local records to answer analytics queries from") }
        let layout = settings.layout
        var vector = [Double](repeating: 0, count: layout.count)
        for (query, slice) in zip(settings.queries, layout.slices) {
            guard let column = query.column else {
                vector[slice.lowerBound] = Double(data.count)
                continue
            }
            let values = try self.values(of: column, in: data, labelName: labelName)
            accumulate(query, values, into: &vector, at: slice.lowerBound)
        }
        let scale = 1 / Double(max(data.count, settings.maxRecords))
        return (vector.map { Float($0 * scale) }, min(data.count, settings.maxRecords))
    }

    /// Adds every present value's entries (see `StatisticsLayout`) at `start`.
    static func accumulate(_ query: AnalyticsQuery, _ values: [Float], into vector: inout [Double], at start: Int) {
        let bounds = query.bounds
        let centre = (bounds.lowerBound + bounds.upperBound) / 2
        let halfWidth = (bounds.upperBound - bounds.lowerBound) / 2
        for value in values where !value.isNaN {
            let x = min(bounds.upperBound, max(bounds.lowerBound, Double(value)))
            if let bins = query.binCount {
                vector[start + bin(of: x, in: bounds, bins: bins)] += 1
                continue
            }
            let y = (x - centre) / halfWidth
            vector[start] += 1
            vector[start + 1] += y
            if query.statistic == .variance { vector[start + 2] += y * y }
        }
    }

    /// The bin of a value within `bounds` (the last bin holds its upper edge).
    public static func bin(of x: Double, in bounds: ClosedRange<Double>, bins: Int) -> Int {
        let position = (x - bounds.lowerBound) / (bounds.upperBound - bounds.lowerBound) * Double(bins)
        return max(0, min(bins - 1, Int(position)))
    }

    /// The column `name`'s values: a feature by its header name, or the target by `labelName`.
    static func values(of name: String, in data: Dataset, labelName: String?) throws(CoreError) -> [Float] {
        if let names = data.featureNames, let column = names.firstIndex(of: name) {
            return (0..<data.count).map { data.features[$0 * data.featureCount + column] }
        }
        if name == labelName { return data.targets }
        let known = (data.featureNames ?? []) + (labelName.map { [$0] } ?? [])
        throw .invalidData(
            known.isEmpty
                ? "column '\(name)' is asked for, but the local data have no header naming their columns"
                : "column '\(name)' is not in the local data (columns: \(known.prefix(20).joined(separator: ", "))\(known.count > 20 ? ", ..." : ""))"
        )
    }
}
