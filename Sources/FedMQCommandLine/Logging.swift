import FedMQRuntime
import Logging

/// Log levels accepted by `--log-level`.
public func logLevel(named name: String) throws(RuntimeError) -> Logger.Level {
    guard let level = Logger.Level(rawValue: name) else {
        throw .configuration("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return level
}

/// Sets up swift-log once: one line per event on standard error, at `level`.
public func bootstrapLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = LineLogHandler(label: label)
        handler.logLevel = level
        return handler
    }
}
