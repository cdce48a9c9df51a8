import FoundationEssentials
import Glibc
import Logging

/// Reads a JSON config file into `Config`, over its defaults (see `ConfigFile`), naming the
/// file and the field in errors: a missing required field, a value of the wrong type, and a
/// key the type does not know (refused with its path, never ignored).
public func loadJSONConfig<Config: ConfigFile>(_ type: Config.Type, from path: String) throws(RuntimeError) -> Config {
    try decodeConfig(Config.self, from: readJSONFile(path), file: path)
}

/// Reads a JSON file (not a config: every field it needs must be there) into `Value`, with the
/// same errors as `loadJSONConfig`.
public func loadJSONFile<Value: Codable>(_ type: Value.Type, from path: String) throws(RuntimeError) -> Value {
    let data = try readJSONFile(path)
    return try decodeJSON(Value.self, from: data, checkedAgainst: data, file: path)
}

/// Decodes config JSON over `Config()`'s defaults; `file` names the source in errors.
public func decodeConfig<Config: ConfigFile>(_ type: Config.Type, from data: Data, file path: String) throws(RuntimeError) -> Config {
    guard let object = ConfigJSON.parse(data) else { throw .file(path: path, reason: "not valid JSON") }
    guard case .object = object else { throw .file(path: path, reason: "the config must be a JSON object") }
    if let missing = ConfigMerge.missing(Config.requiredKeys, in: object).first {
        throw .file(path: path, reason: "missing field '\(missing)'")
    }
    let merged: Data
    do {
        let defaults = try JSONDecoder().decode(ConfigJSON.self, from: JSONEncoder().encode(Config()))
        merged = try JSONEncoder().encode(ConfigMerge.lay(object, over: defaults))
    } catch {
        throw .file(path: path, reason: "cannot lay the file over the defaults: \(error)")
    }
    return try decodeJSON(Config.self, from: merged, checkedAgainst: data, file: path)
}

private func readJSONFile(_ path: String) throws(RuntimeError) -> Data {
    guard let data = FileManager.default.contents(atPath: path) else { throw .file(path: path, reason: "cannot read the file") }
    return data
}

/// Decodes `data`, then refuses every key of `original` (the file as written) that the
/// decoded value does not know.
private func decodeJSON<Value: Codable>(_ type: Value.Type, from data: Data, checkedAgainst original: Data, file path: String) throws(RuntimeError)
    -> Value
{
    let value: Value
    do {
        value = try JSONDecoder().decode(Value.self, from: data)
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
    let unknown = UnknownKeys.find(in: original, decoded: value)
    guard unknown.isEmpty else {
        throw .file(path: path, reason: "unknown key\(unknown.count > 1 ? "s" : "") \(unknown.map { "'\($0)'" }.joined(separator: ", ")) (misspelt?)")
    }
    return value
}

/// A write past the file size limit (RLIMIT_FSIZE) then fails with EFBIG, which the runtime
/// reports with the file's path, instead of SIGXFSZ killing the process without a word.
public func reportFileSizeLimitAsError() {
    signal(SIGXFSZ, SIG_IGN)
}
