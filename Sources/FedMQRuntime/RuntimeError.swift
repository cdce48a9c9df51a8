/// The one error type of the runtimes: configuration and file problems, each naming where.
public enum RuntimeError: Error, Sendable, CustomStringConvertible {
    case configuration(String)
    case file(path: String, reason: String)

    public var description: String {
        switch self {
        case .configuration(let text): "configuration: \(text)"
        case .file(let path, let reason): "\(path): \(reason)"
        }
    }
}
