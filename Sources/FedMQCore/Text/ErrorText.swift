import FoundationEssentials
import Glibc

/// Readable text for an error from the file system or a decoder. FoundationEssentials has no
/// `localizedDescription`, and a `CocoaError`'s own description is a dump of its user info.
public enum ErrorText {
    /// The cause of a file error ("No such file or directory"), the path and reason of a
    /// decoding error, or the error as it prints itself.
    public static func describe(_ error: any Error) -> String {
        switch error {
        case let error as CocoaError:
            if let posix = error.underlying as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
            return "file error \(error.code.rawValue)"
        case let error as POSIXError:
            return String(cString: strerror(error.code.rawValue))
        case let error as DecodingError:
            return describe(error)
        default:
            return "\(error)"
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        let context: DecodingError.Context
        switch error {
        case .typeMismatch(_, let found), .valueNotFound(_, let found), .keyNotFound(_, let found),
            .dataCorrupted(let found):
            context = found
        @unknown default:
            return "\(error)"
        }
        let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return path.isEmpty ? context.debugDescription : "at \(path.drop { $0 == "." }): \(context.debugDescription)"
    }
}
