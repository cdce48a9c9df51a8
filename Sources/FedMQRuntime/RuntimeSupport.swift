import Foundation
import Logging

/// Reads a JSON config file into `Config`, naming the file and the field in errors. A key the
/// type does not know is refused with its path, never ignored.
public func loadJSONConfig<Config: Codable>(_ type: Config.Type, from path: String) throws(RuntimeError) -> Config {
    guard let data = FileManager.default.contents(atPath: path) else { throw .file(path: path, reason: "cannot read the config file") }
    let config: Config
    do {
        config = try JSONDecoder().decode(Config.self, from: data)
    } catch let DecodingError.keyNotFound(key, context) {
        throw .file(path: path, reason: "missing field '\((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))'")
    } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
        throw .file(path: path, reason: "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
    } catch let DecodingError.dataCorrupted(context) {
        let field = context.codingPath.map(\.stringValue).joined(separator: ".")
        throw .file(path: path, reason: field.isEmpty ? "not valid JSON" : "field '\(field)' is invalid: \(context.debugDescription)")
    } catch {
        throw .file(path: path, reason: "\(error)")
    }
    let unknown = UnknownKeys.find(in: data, decoded: config)
    guard unknown.isEmpty else {
        throw .file(path: path, reason: "unknown key\(unknown.count > 1 ? "s" : "") \(unknown.map { "'\($0)'" }.joined(separator: ", ")) (misspelt?)")
    }
    return config
}

/// A write past the file size limit (RLIMIT_FSIZE) then fails with EFBIG, which the runtime
/// reports with the file's path, instead of SIGXFSZ killing the process without a word.
public func reportFileSizeLimitAsError() {
    signal(SIGXFSZ, SIG_IGN)
}
