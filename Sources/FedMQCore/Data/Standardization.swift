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
}
