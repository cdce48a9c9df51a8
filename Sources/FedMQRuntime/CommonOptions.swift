import Logging

/// Log levels accepted by `--log-level`.
public func logLevel(named name: String) throws(RuntimeError) -> Logger.Level {
    guard let level = Logger.Level(rawValue: name) else {
        throw .configuration("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return level
}
