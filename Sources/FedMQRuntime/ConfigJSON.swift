import FoundationEssentials

/// A JSON value as a config file holds it, for laying a file over the defaults and finding
/// its unknown keys (FoundationEssentials has no `JSONSerialization`). Integers keep every
/// digit: a 64-bit seed must not pass through a `Double`.
enum ConfigJSON: Codable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case unsigned(UInt64)
    case number(Double)
    case string(String)
    case array([ConfigJSON])
    case object([String: ConfigJSON])

    init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer()
        if value.decodeNil() {
            self = .null
        } else if let bool = try? value.decode(Bool.self) {
            self = .bool(bool)
        } else if let integer = try? value.decode(Int64.self) {
            self = .integer(integer)
        } else if let unsigned = try? value.decode(UInt64.self) {
            self = .unsigned(unsigned)
        } else if let number = try? value.decode(Double.self) {
            self = .number(number)
        } else if let string = try? value.decode(String.self) {
            self = .string(string)
        } else if let array = try? value.decode([ConfigJSON].self) {
            self = .array(array)
        } else {
            self = .object(try value.decode([String: ConfigJSON].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var value = encoder.singleValueContainer()
        switch self {
        case .null: try value.encodeNil()
        case .bool(let bool): try value.encode(bool)
        case .integer(let integer): try value.encode(integer)
        case .unsigned(let unsigned): try value.encode(unsigned)
        case .number(let number): try value.encode(number)
        case .string(let string): try value.encode(string)
        case .array(let array): try value.encode(array)
        case .object(let object): try value.encode(object)
        }
    }

    /// The JSON in `data`, or nil when it is not JSON.
    static func parse(_ data: Data) -> ConfigJSON? {
        try? JSONDecoder().decode(ConfigJSON.self, from: data)
    }
}
