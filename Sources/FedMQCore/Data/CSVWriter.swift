import FoundationEssentials
import Glibc

/// Writes a data set as CSV: the features, then the target (whole numbers without a
/// fraction), one row per line, in the form `CSVReader` reads back exactly; a header line of the
/// feature names and the label's name when a label name is given (and the features have names).
public enum CSVWriter {
    /// The data set as CSV text: a header if `label` names the target column, then features and
    /// the target, one row per line.
    public static func text(_ data: Dataset, label: String? = nil) -> String {
        var text = ""
        if let label, let names = data.featureNames { text += (names + [label]).joined(separator: ",") + "\n" }
        for row in 0..<data.count {
            text += data.features[(row * data.featureCount)..<((row + 1) * data.featureCount)].map { "\($0)" }.joined(separator: ",")
            let target = data.targets[row]
            text += target == target.rounded() && abs(target) < 1e7 ? ",\(Int(target))\n" : ",\(target)\n"
        }
        return text
    }

    /// Writes `text(data, label:)` to `path`; an error names the path.
    public static func write(_ data: Dataset, to path: String, label: String? = nil) throws(CoreError) {
        do {
            try text(data, label: label).write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw .io(path: path, reason: "cannot write: \(ErrorText.describe(error))")
        }
    }
}
