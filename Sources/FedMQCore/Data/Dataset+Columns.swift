/// Columns that are not features: an id that groups rows (a device, a speaker, a household).
extension Dataset {
    /// The index of the feature named `name`; throws naming the columns there are.
    public func featureIndex(named name: String) throws(CoreError) -> Int {
        guard let names = featureNames else { throw .invalidData("no column names (the data need a header line to name '\(name)')") }
        guard let index = names.firstIndex(of: name) else {
            throw .invalidData("no column named '\(name)' among \(names.prefix(20).joined(separator: ", "))")
        }
        return index
    }

    /// The same rows with only the features named `names`, in that order (the others dropped);
    /// throws naming a column that is not there, or one named twice.
    public func selectingFeatures(named names: [String]) throws(CoreError) -> Dataset {
        guard !names.isEmpty else { throw .invalidData("select at least one column") }
        guard Set(names).count == names.count else { throw .invalidData("columns \(names.joined(separator: ", ")) name one twice") }
        var columns: [Int] = []
        for name in names { columns.append(try featureIndex(named: name)) }
        var kept: [Float] = []
        kept.reserveCapacity(count * columns.count)
        for row in 0..<count {
            for column in columns { kept.append(features[row * featureCount + column]) }
        }
        return Dataset(unchecked: kept, targets: targets, featureCount: columns.count, names: names)
    }

    /// The rows of each value of feature `column`, by increasing value: a natural partition.
    public func rowsByValue(of column: Int) -> [(value: Float, rows: [Int])] {
        var groups: [Float: [Int]] = [:]
        for row in 0..<count { groups[features[row * featureCount + column], default: []].append(row) }
        return groups.keys.sorted().map { ($0, groups[$0] ?? []) }
    }

    /// The same rows without feature `column`; throws if it is the only feature.
    public func removingFeature(_ column: Int) throws(CoreError) -> Dataset {
        guard featureCount > 1, (0..<featureCount).contains(column) else { throw .invalidData("cannot remove the only feature column") }
        var kept: [Float] = []
        kept.reserveCapacity(count * (featureCount - 1))
        for row in 0..<count {
            let start = row * featureCount
            kept += features[start..<start + column]
            kept += features[(start + column + 1)..<(start + featureCount)]
        }
        var names = featureNames
        names?.remove(at: column)
        return Dataset(unchecked: kept, targets: targets, featureCount: featureCount - 1, names: names)
    }
}
