import FoundationEssentials

/// A safetensors file's JSON header as written, before any check. Each entry keeps the fields
/// that have the JSON type they should and leaves out the others, so that the decoder can say
/// which field of which tensor is wrong.
struct SafetensorsHeader: Decodable {
    struct RawEntry: Decodable, Equatable {
        var isObject = false
        var dtype: String?
        var shape: [Double]?
        var dataOffsets: [Double]?

        private enum Field: String, CodingKey {
            case dtype, shape
            case dataOffsets = "data_offsets"
        }

        init() {}

        init(from decoder: any Decoder) throws {
            guard let fields = try? decoder.container(keyedBy: Field.self) else { return }
            isObject = true
            dtype = try? fields.decode(String.self, forKey: .dtype)
            shape = try? fields.decode([Double].self, forKey: .shape)
            dataOffsets = try? fields.decode([Double].self, forKey: .dataOffsets)
        }
    }

    enum RawMetadata: Equatable {
        case absent
        case notObject
        case notString(key: String)
        case values([String: String])
    }

    private(set) var metadata = RawMetadata.absent
    private(set) var entries: [(name: String, entry: RawEntry)] = []

    /// Parses the header's bytes; only malformed JSON or a header that is not an object fails.
    static func parse(_ bytes: ArraySlice<UInt8>) throws(SafetensorsError) -> SafetensorsHeader {
        if let header = SafetensorsHeaderScanner.scan(bytes) { return header }
        return try decode(bytes)
    }

    /// `parse` through `JSONDecoder` alone (what the scanner must agree with).
    static func decode(_ bytes: ArraySlice<UInt8>) throws(SafetensorsError) -> SafetensorsHeader {
        do {
            return try JSONDecoder().decode(SafetensorsHeader.self, from: Data(bytes))
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty {
            throw .invalidHeaderJSON("the header is not a JSON object")
        } catch {
            throw .invalidHeaderJSON(ErrorText.describe(error))
        }
    }

    init(metadata: RawMetadata, entries: [(name: String, entry: RawEntry)]) {
        self.metadata = metadata
        self.entries = entries
    }

    init(from decoder: any Decoder) throws {
        let header = try decoder.container(keyedBy: Name.self)
        for key in header.allKeys {
            if key.stringValue == "__metadata__" {
                metadata = Self.metadata(in: header, at: key)
            } else {
                entries.append((key.stringValue, try header.decode(RawEntry.self, forKey: key)))
            }
        }
    }

    private static func metadata(in header: KeyedDecodingContainer<Name>, at key: Name) -> RawMetadata {
        guard let object = try? header.nestedContainer(keyedBy: Name.self, forKey: key) else { return .notObject }
        var values: [String: String] = [:]
        for item in object.allKeys {
            guard let text = try? object.decode(String.self, forKey: item) else { return .notString(key: item.stringValue) }
            values[item.stringValue] = text
        }
        return .values(values)
    }

    /// Any key of a JSON object.
    private struct Name: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
