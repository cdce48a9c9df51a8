/// Train/test splits.
public enum DataSplit {
    /// Splits with `testFraction` of each class in the test set (classification), shuffled
    /// by SplitMix64(seed). Regression data (`classes` nil) is split without strata.
    public static func trainTest(
        _ data: Dataset, testFraction: Double, classes: Int?, seed: UInt64
    ) throws(CoreError) -> (train: Dataset, test: Dataset) {
        guard testFraction > 0, testFraction < 1 else { throw .invalidData("test fraction \(testFraction) is not in (0, 1)") }
        var random = SplitMix64(seed: seed)
        var strata: [[Int]]
        if let classes {
            let labels = try data.labels(classes: classes)
            strata = Array(repeating: [], count: classes)
            for (row, label) in labels.enumerated() { strata[label].append(row) }
        } else {
            strata = [Array(0..<data.count)]
        }
        var train: [Int] = []
        var test: [Int] = []
        for stratum in strata where !stratum.isEmpty {
            let order = random.permutation(stratum.count).map { stratum[$0] }
            let testCount = Int((Double(stratum.count) * testFraction).rounded())
            test += order.prefix(testCount)
            train += order.dropFirst(testCount)
        }
        guard !train.isEmpty, !test.isEmpty else { throw .invalidData("split leaves an empty train or test set") }
        return (data.subset(train.sorted()), data.subset(test.sorted()))
    }
}
