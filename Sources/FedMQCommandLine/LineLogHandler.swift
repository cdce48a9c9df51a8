import Glibc
import Logging

/// One line per event on standard error, in swift-log's `StreamLogHandler` layout
/// (`2026-12-02T03:59:09+0000 info fedmq.agent: epochs=1 round=2 [FedMQAgent] training`), at a fraction
/// of its cost: an agent logs a few lines a round, and `StreamLogHandler` calls `localtime`,
/// which re-reads the time zone (a `stat` of `/etc/localtime`) on every line, then formats
/// through `strftime` and stdio. This handler takes the time zone once per process
/// (`localtime_r`; a time zone changed on the machine shows after a restart) and hands each
/// line to the kernel in one `write`.
struct LineLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        Self.writeToStandardError(line(event, at: time(nil)))
    }

    /// The line for `event` logged at `seconds` since 1970.
    func line(_ event: LogEvent, at seconds: time_t) -> String {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, provided in provided } }
        if let explicit = event.metadata { fields.merge(explicit) { _, explicit in explicit } }
        if let error = event.error {
            fields["error.message"] = "\(error)"
            fields["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        var line = Self.timestamp(seconds: seconds)
        line += " \(event.level)"
        if !label.isEmpty { line += " " + label }
        line += ":"
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        line += " [\(event.source)] \(event.message)\n"
        return line
    }

    /// `seconds` since 1970 as local time, `%Y-%m-%dT%H:%M:%S%z`.
    static func timestamp(seconds: time_t) -> String {
        var clock = seconds
        var local = tm()
        guard localtime_r(&clock, &local) != nil else { return "<unknown>" }
        func digits(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let offset = local.tm_gmtoff / 60
        let date = "\(digits(Int(local.tm_year) + 1900, 4))-\(digits(Int(local.tm_mon) + 1, 2))-\(digits(Int(local.tm_mday), 2))"
        let time = "\(digits(Int(local.tm_hour), 2)):\(digits(Int(local.tm_min), 2)):\(digits(Int(local.tm_sec), 2))"
        let zone = (offset < 0 ? "-" : "+") + digits(abs(offset) / 60, 2) + digits(abs(offset) % 60, 2)
        return date + "T" + time + zone
    }

    /// Writes all of `line`, retrying a write cut short; a log line that cannot be written is dropped.
    private static func writeToStandardError(_ line: String) {
        var line = line
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count, let base = bytes.baseAddress {
                let written = write(STDERR_FILENO, base + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}
