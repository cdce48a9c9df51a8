import FoundationEssentials

/// A settings type read from a JSON config file. `init()` holds every field's default, so a
/// file names only what it changes: its keys are laid over the defaults' JSON (objects key by
/// key, at every depth) and the result is decoded by the type's synthesized `Decodable`.
/// Adding a field takes its declaration (with its default and doc comment) and its key in
/// `CodingKeys`; nothing else.
public protocol ConfigFile: Codable {
    /// Every field at its default.
    init()

    /// Dotted paths a file must give because no default makes sense (`job`,
    /// `policy.target_updates`).
    static var requiredKeys: [String] { get }
}

enum ConfigMerge {
    /// `file` laid over `defaults`: objects merge key by key; anything else in `file` wins,
    /// JSON null included (it means "none", e.g. `rounds: null` runs forever).
    static func lay(_ file: ConfigJSON, over defaults: ConfigJSON) -> ConfigJSON {
        guard case .object(let object) = file, case .object(var merged) = defaults else { return file }
        for (key, value) in object {
            merged[key] = merged[key].map { lay(value, over: $0) } ?? value
        }
        return .object(merged)
    }

    /// The required paths `file` lacks (or sets to null), in the order given.
    static func missing(_ required: [String], in file: ConfigJSON) -> [String] {
        required.filter { path in
            var node: ConfigJSON? = file
            for key in path.split(separator: ".") {
                guard case .object(let object) = node else { return true }
                node = object[String(key)]
            }
            return node == nil || node == .null
        }
    }
}
