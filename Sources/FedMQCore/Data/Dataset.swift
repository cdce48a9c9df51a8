/// Rows of numeric features with one target each: a class index (stored as a float, exact
/// below 2^24) for classification, or a value for regression.
public struct Dataset: Sendable, Equatable {
    /// Row-major, `count` x `featureCount`.
    public var features: [Float]
    public var targets: [Float]
    public var featureCount: Int
    /// Column names of the features, when the source had a header.
    public var featureNames: [String]?

    /// Rows of `featureCount` features (row-major) and one target each; counts must agree.
    public init(features: [Float], targets: [Float], featureCount: Int, featureNames: [String]? = nil) throws(CoreError) {
        guard featureCount > 0, features.count == targets.count * featureCount else {
            throw .invalidData("\(features.count) feature values do not make \(targets.count) rows of \(featureCount)")
        }
        self.features = features
        self.targets = targets
        self.featureCount = featureCount
        self.featureNames = featureNames
    }

    public var count: Int { targets.count }

    /// Class labels; throws if a target is not a non-negative whole number below `classes`.
    public func labels(classes: Int) throws(CoreError) -> [Int] {
        var labels: [Int] = []
        labels.reserveCapacity(count)
        for (row, target) in targets.enumerated() {
            // Compared as a number before any conversion: a label of 1e19 must be refused, not trap.
            guard target >= 0, target < Float(classes), target == target.rounded() else {
                throw .invalidData("row \(row + 1): label \(target) is not a class in 0..<\(classes)")
            }
            labels.append(Int(target))
        }
        return labels
    }

    /// The rows at `indices`, in that order.
    public func subset(_ indices: [Int]) -> Dataset {
        var features: [Float] = []
        features.reserveCapacity(indices.count * featureCount)
        for index in indices {
            features += self.features[(index * featureCount)..<((index + 1) * featureCount)]
        }
        // Shapes are consistent by construction.
        return Dataset(unchecked: features, targets: indices.map { targets[$0] }, featureCount: featureCount, names: featureNames)
    }

    /// These rows, then `other`'s (which must have as many features).
    public func appending(_ other: Dataset) throws(CoreError) -> Dataset {
        guard other.featureCount == featureCount else {
            throw .invalidData("cannot append rows of \(other.featureCount) features to rows of \(featureCount)")
        }
        return Dataset(unchecked: features + other.features, targets: targets + other.targets, featureCount: featureCount, names: featureNames)
    }

    init(unchecked features: [Float], targets: [Float], featureCount: Int, names: [String]?) {
        self.features = features
        self.targets = targets
        self.featureCount = featureCount
        featureNames = names
    }
}
