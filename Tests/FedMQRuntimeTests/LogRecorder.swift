import Logging
import Synchronization

/// Keeps every log line of the runtimes under test, and lets a test wait for a line: a runtime's
/// log is one of the events a test may act on (never a sleep).
final class LogRecorder: Sendable {
    struct Line: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]
    }

    private struct State {
        var lines: [Line] = []
        var waiters: [(condition: @Sendable ([Line]) -> Bool, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    /// A logger whose lines (every level) go to this recorder, with `label` as metadata `source`.
    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label) { _ in Handler(recorder: self, source: label) }
        logger.logLevel = .trace
        return logger
    }

    var lines: [Line] { state.withLock { $0.lines } }

    /// The lines from `source` (a logger's label) whose message contains `text`.
    func lines(from source: String, containing text: String) -> [Line] {
        lines.filter { $0.metadata["source"] == source && $0.message.contains(text) }
    }

    /// Returns once the recorded lines satisfy `condition`.
    func wait(until condition: @escaping @Sendable ([Line]) -> Bool) async {
        await withCheckedContinuation { continuation in
            let met = state.withLock { state in
                if condition(state.lines) { return true }
                state.waiters.append((condition, continuation))
                return false
            }
            if met { continuation.resume() }
        }
    }

    /// Returns once `source` logged `count` lines containing `text`.
    func wait(for count: Int = 1, from source: String, containing text: String) async {
        await wait { lines in lines.filter { $0.metadata["source"] == source && $0.message.contains(text) }.count >= count }
    }

    fileprivate func append(_ line: Line) {
        let ready = state.withLock { state in
            state.lines.append(line)
            let lines = state.lines
            let ready = state.waiters.filter { $0.condition(lines) }.map(\.continuation)
            state.waiters.removeAll { $0.condition(lines) }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        let source: String
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata.mapValues { "\($0)" }
            for (key, value) in event.metadata ?? [:] { merged[key] = "\(value)" }
            merged["source"] = source
            recorder.append(Line(level: event.level, message: "\(event.message)", metadata: merged))
        }
    }
}
