import Foundation

/// Writes a data set as CSV without a header: the features, then the target (whole numbers
/// without a fraction), one row per line, in the form `CSVReader` reads back exactly.
public enum CSVWriter {
    /// The data set as CSV text: features, then the target, one row per line.
    public static func text(_ data: Dataset) -> String {
        var text = ""
        for row in 0..<data.count {
            text += data.features[(row * data.featureCount)..<((row + 1) * data.featureCount)].map { "\($0)" }.joined(separator: ",")
            let target = data.targets[row]
            text += target == target.rounded() && abs(target) < 1e7 ? ",\(Int(target))\n" : ",\(target)\n"
        }
        return text
    }

    /// Writes `text(data)` to `path`; an error names the path.
    public static func write(_ data: Dataset, to path: String) throws(CoreError) {
        do {
            try text(data).write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw .io(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}
