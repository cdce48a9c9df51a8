import FedMQCore
import FoundationEssentials

extension CSVReader {
    /// Reads and parses a CSV file; errors name the file (and the line and column).
    public static func read(file path: String, options: CSVOptions = .init()) throws(CoreError) -> Dataset {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .io(path: path, reason: "cannot read: \(ErrorText.describe(error))")
        }
        return try parse(text, file: path, options: options)
    }
}
