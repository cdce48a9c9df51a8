extension FeatureScaling {
    /// Fits per-feature mean and standard deviation on `data` (training data only). A constant
    /// feature gets std 1, so it maps to 0 instead of dividing by zero.
    public static func fit(_ data: Dataset) -> FeatureScaling {
        let width = data.featureCount
        var mean = [Double](repeating: 0, count: width)
        var squares = [Double](repeating: 0, count: width)
        for row in 0..<data.count {
            for column in 0..<width {
                let value = Double(data.features[row * width + column])
                mean[column] += value
                squares[column] += value * value
            }
        }
        let n = Double(max(1, data.count))
        let std = (0..<width).map { column -> Float in
            let average = mean[column] / n
            let variance = max(0, squares[column] / n - average * average)
            return variance > 1e-12 ? Float(variance.squareRoot()) : 1
        }
        return FeatureScaling(mean: mean.map { Float($0 / n) }, std: std)
    }

    /// Applies the scaling in place.
    public func apply(to data: inout Dataset) throws(CoreError) {
        guard mean.count == data.featureCount else {
            throw .invalidData("scaling is for \(mean.count) features, the data has \(data.featureCount)")
        }
        let width = data.featureCount
        for index in data.features.indices {
            let column = index % width
            data.features[index] = (data.features[index] - mean[column]) / std[column]
        }
    }

    /// Why `data` needs scaling before training, or nil: the typical magnitudes of its features
    /// (root mean squares; constant-zero features left out) differ by more than `ratio`. SGD with
    /// one learning rate then diverges on the large features or ignores the small ones (the
    /// breast cancer data, unscaled, diverges from a loss of 6,477 to 26,287).
    public static func unscaledWarning(_ data: Dataset, ratio: Double = 1000) -> String? {
        let width = data.featureCount
        guard width > 1, data.count > 0 else { return nil }
        var squares = [Double](repeating: 0, count: width)
        for (index, value) in data.features.enumerated() { squares[index % width] += Double(value) * Double(value) }
        let magnitudes = squares.map { ($0 / Double(data.count)).squareRoot() }
        let present = magnitudes.indices.filter { magnitudes[$0] > 0 && magnitudes[$0].isFinite }
        guard let largest = present.max(by: { magnitudes[$0] < magnitudes[$1] }),
            let smallest = present.min(by: { magnitudes[$0] < magnitudes[$1] }), magnitudes[largest] > ratio * magnitudes[smallest]
        else { return nil }
        func name(_ column: Int) -> String {
            guard let names = data.featureNames, names.indices.contains(column) else { return "feature \(column)" }
            return "'\(names[column])'"
        }
        return "features differ in scale by \(PrintfFormat.string("%.3g", magnitudes[largest] / magnitudes[smallest]))x "
            + "(\(name(largest)) around \(PrintfFormat.string("%.3g", magnitudes[largest])), \(name(smallest)) around \(PrintfFormat.string("%.3g", magnitudes[smallest]))) "
            + "and the model has no feature scaling: training may diverge; give the spec a scaling (fedmq partition writes one) or scale the data"
    }
}
