import FoundationEssentials
import Glibc

/// How well a model does on a data set.
public struct Evaluation: Sendable, Equatable, Codable {
    /// Mean cross-entropy (classifiers) or mean squared error (regression).
    public var loss: Double
    /// Classifiers only.
    public var accuracy: Double?
    /// confusion[true][predicted], classifiers only.
    public var confusion: [[Int]]?
    /// Regression only.
    public var meanAbsoluteError: Double?
    public var examples: Int
    /// Autoencoders only: each example's reconstruction error counted in
    /// `ReconstructionErrors`' bins.
    public var errorHistogram: [Int]? = nil

    enum CodingKeys: String, CodingKey {
        case loss, accuracy, confusion, examples
        case errorHistogram = "error_histogram"
        case meanAbsoluteError = "mae"
    }

    /// Evaluates `parameters` on `data` in chunks (bounded memory).
    public static func evaluate(_ parameters: Parameters, spec: ModelSpec, on data: Dataset) throws(CoreError) -> Evaluation {
        try spec.check(parameters)
        var network = try DenseNetwork(spec: spec)
        guard data.featureCount == spec.inputs, data.count > 0 else {
            throw .invalidData("evaluation data must be non-empty with \(spec.inputs) features")
        }
        let classes = spec.outputs
        let labels = spec.isClassifier ? try data.labels(classes: classes) : []
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: spec.isClassifier ? classes : 0)
        var loss = 0.0
        var absolute = 0.0
        var errors: [Double] = []
        let chunk = 256
        var start = 0
        while start < data.count {
            let rows = min(chunk, data.count - start)
            let outputs = data.features[(start * data.featureCount)..<((start + rows) * data.featureCount)]
                .withUnsafeBufferPointer { network.outputs(parameters, features: $0, rows: rows) }
            for row in 0..<rows {
                let values = outputs[(row * classes)..<((row + 1) * classes)]
                if spec.reconstructs {
                    let input = data.features[((start + row) * classes)..<((start + row + 1) * classes)]
                    let error = zip(values, input).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(classes)
                    loss += error
                    errors.append(error)
                } else if spec.isClassifier {
                    let peak = values.max()!
                    let logSum = Double(peak) + Glibc.log(values.reduce(0.0) { $0 + Glibc.exp(Double($1 - peak)) })
                    let label = labels[start + row]
                    loss += logSum - Double(values[values.startIndex + label])
                    let predicted = values.indices.max { values[$0] < values[$1] }! - values.startIndex
                    confusion[label][predicted] += 1
                } else {
                    let error = Double(values[values.startIndex]) - Double(data.targets[start + row])
                    loss += error * error
                    absolute += abs(error)
                }
            }
            start += rows
        }
        let n = Double(data.count)
        if spec.isClassifier {
            let correct = (0..<classes).reduce(0) { $0 + confusion[$1][$1] }
            return Evaluation(loss: loss / n, accuracy: Double(correct) / n, confusion: confusion, examples: data.count)
        }
        if spec.reconstructs {
            return Evaluation(loss: loss / n, examples: data.count, errorHistogram: ReconstructionErrors.histogram(errors))
        }
        return Evaluation(loss: loss / n, meanAbsoluteError: absolute / n, examples: data.count)
    }
}
