/// Train/test splits.
public enum DataSplit {
    /// Splits with `testFraction` of each class in the test set (classification), shuffled
    /// by SplitMix64(seed). Regression data (`classes` nil) is split without strata. The test
    /// set has ceil(n * testFraction) rows, shared among classes by largest remainder.
    public static func trainTest(
        _ data: Dataset, testFraction: Double, classes: Int?, seed: UInt64
    ) throws(CoreError) -> (train: Dataset, test: Dataset) {
        let (train, test) = try trainTestRows(data, testFraction: testFraction, classes: classes, seed: seed)
        return (data.subset(train), data.subset(test))
    }

    /// The same split as row indices (each list sorted), for callers that keep per-row facts.
    public static func trainTestRows(
        _ data: Dataset, testFraction: Double, classes: Int?, seed: UInt64
    ) throws(CoreError) -> (train: [Int], test: [Int]) {
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
        let testCounts = allocate(Int((Double(data.count) * testFraction).rounded(.up)), among: strata.map(\.count))
        var train: [Int] = []
        var test: [Int] = []
        for (stratum, testCount) in zip(strata, testCounts) where !stratum.isEmpty {
            let order = random.permutation(stratum.count).map { stratum[$0] }
            test += order.prefix(testCount)
            train += order.dropFirst(testCount)
        }
        guard !train.isEmpty, !test.isEmpty else { throw .invalidData("split leaves an empty train or test set") }
        return (train.sorted(), test.sorted())
    }

    /// Shares `total` among groups in proportion to their sizes: floors first, then one more
    /// to the groups with the largest remainders (earlier groups first on ties).
    static func allocate(_ total: Int, among sizes: [Int]) -> [Int] {
        let n = Double(sizes.reduce(0, +))
        let exact = sizes.map { Double($0) * Double(total) / n }
        var counts = exact.map { Int($0.rounded(.down)) }
        let order = exact.indices.sorted { (exact[$0] - Double(counts[$0]), -$0) > (exact[$1] - Double(counts[$1]), -$1) }
        for index in order.prefix(total - counts.reduce(0, +)) { counts[index] += 1 }
        return zip(counts, sizes).map { min($0, $1) }
    }
}
