import FoundationEssentials

/// Finds keys in a config file that its type does not know: a misspelt key (`round_secs`,
/// `min_noise_multipler`) would otherwise be ignored and its field left at the default, which
/// for a privacy setting means less privacy without a word.
///
/// The file is decoded, the result encoded again, and every key of the file must appear at the
/// same place in the encoding (a key whose value is null may be missing there: null and absent
/// mean the same to every config).
enum UnknownKeys {
    /// The dotted paths of `original`'s keys that `known` lacks, sorted.
    static func find(in original: ConfigJSON, known: ConfigJSON, path: String = "") -> [String] {
        switch (original, known) {
        case (.object(let object), .object(let knownObject)):
            return object.keys.sorted().flatMap { key -> [String] in
                let here = path.isEmpty ? key : "\(path).\(key)"
                guard let value = object[key], value != .null else { return [] }
                guard let knownValue = knownObject[key] else { return [here] }
                return find(in: value, known: knownValue, path: here)
            }
        case (.array(let array), .array(let knownArray)):
            return zip(array.indices, zip(array, knownArray)).flatMap { index, pair in
                find(in: pair.0, known: pair.1, path: "\(path)[\(index)]")
            }
        default:
            return []
        }
    }

    /// The unknown keys of JSON `data` as `config` understood it.
    static func find<Config: Encodable>(in data: Data, decoded config: Config) -> [String] {
        guard let original = ConfigJSON.parse(data), let encoded = try? JSONEncoder().encode(config),
            let known = ConfigJSON.parse(encoded)
        else { return [] }
        return find(in: original, known: known)
    }
}
