extension FeatureScaling {
    /// Standardization from an analytics job's variance queries, one feature per query in their
    /// order: the fleet's mean and the square root of its variance. A standard deviation that the
    /// noise (or a constant column) left below a thousandth of the query's range is raised to
    /// it, so that scaling never divides by zero or blows one feature up.
    public static func fleetWide(_ settings: AnalyticsSettings, answers: [AnalyticsAnswer]) throws(CoreError) -> FeatureScaling {
        let features = zip(settings.queries, answers).filter { $0.0.statistic == .variance }
        guard !features.isEmpty else { throw .invalidQuery(query: "", reason: "feature scaling needs a variance query per feature") }
        var mean: [Float] = []
        var std: [Float] = []
        for (query, answer) in features {
            guard let average = answer.mean, let variance = answer.value else {
                throw .invalidData("'\(query)' has no answer (no records counted): no scaling for column '\(query.column ?? "")'")
            }
            let floor = (query.bounds.upperBound - query.bounds.lowerBound) / 1000
            mean.append(Float(average))
            std.append(Float(max(variance.squareRoot(), floor)))
        }
        return FeatureScaling(mean: mean, std: std)
    }
}
