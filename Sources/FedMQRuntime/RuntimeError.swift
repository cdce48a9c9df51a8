/// The one error type of the runtimes: configuration and file problems, each naming where,
/// and waits that ran out of time, naming what was waited for.
public enum RuntimeError: Error, Sendable, CustomStringConvertible {
    case configuration(String)
    case file(path: String, reason: String)
    case timedOut(waitingFor: String, after: Duration)

    public var description: String {
        switch self {
        case .configuration(let text): "configuration: \(text)"
        case .file(let path, let reason): "\(path): \(reason)"
        case .timedOut(let what, let limit): "gave up waiting for \(what) after \(limit)"
        }
    }
}
