import FoundationEssentials

/// JSON encoding and hostile-input decoding of FedMQ's control messages.
public enum ProtocolJSON {
    /// Control messages are small; anything bigger is refused before parsing.
    public static let maxMessageBytes = 256 * 1024

    /// A message as compact JSON with sorted keys and unescaped slashes.
    public static func encode<Message: Encodable>(_ message: Message) -> [UInt8] {
        encodedByJSONEncoder(message)
    }

    /// A message that writes its own JSON (the same bytes), or `JSONEncoder` where it does not.
    public static func encode<Message: HandWrittenJSON>(_ message: Message) -> [UInt8] {
        message.writtenJSON() ?? encodedByJSONEncoder(message)
    }

    private static func encodedByJSONEncoder<Message: Encodable>(_ message: Message) -> [UInt8] {
        let encoder = JSONEncoder()
        // Slashes stay as they are: `fedmq.metrics/1`, not `fedmq.metrics\/1`, for people reading mosquitto_sub.
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding our own Codable values with finite numbers cannot fail; NaN would, so
        // callers keep metrics finite (see RoundMetrics).
        return (try? encoder.encode(message)).map(Array.init) ?? Array("{}".utf8)
    }

    /// Decodes `payload` as `Message`, checking size and the `schema` field.
    public static func decode<Message: Decodable & SchemaVersioned>(
        _ type: Message.Type, from payload: [UInt8]
    ) throws(ProtocolError) -> Message {
        guard payload.count <= maxMessageBytes else {
            throw .invalidMessage(schema: Message.schema, reason: "\(payload.count) bytes exceeds \(maxMessageBytes)")
        }
        let message: Message
        do {
            message = try Message.scanned(from: payload) ?? JSONDecoder().decode(Message.self, from: Data(payload))
        } catch let error as DecodingError {
            throw .invalidMessage(schema: Message.schema, reason: describe(error))
        } catch {
            throw .invalidMessage(schema: Message.schema, reason: "\(error)")
        }
        guard message.schema == Message.schema else {
            throw .invalidMessage(schema: Message.schema, reason: "schema is '\(message.schema)'")
        }
        try message.validate()
        return message
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field '\((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "field '\(path(context))' has the wrong type"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : "field '\(path(context))' is invalid"
        @unknown default:
            return "\(error)"
        }
    }
}

/// A message with a `schema` string like "fedmq.round/1" and its own consistency checks.
public protocol SchemaVersioned {
    static var schema: String { get }
    var schema: String { get }
    func validate() throws(ProtocolError)
    /// The message read from `payload` by a quick scanner of its plain form, which answers
    /// as `JSONDecoder` would; nil: `JSONDecoder` reads it (and gives any error).
    static func scanned(from payload: [UInt8]) -> Self?
}

extension SchemaVersioned {
    /// No quick scanner: `JSONDecoder` reads the message.
    public static func scanned(from payload: [UInt8]) -> Self? { nil }
}

/// A message written every round that writes its JSON by hand (`JSONWriter`), byte for byte as
/// `ProtocolJSON.encode` would with `JSONEncoder`; nil where it leaves that to `JSONEncoder`.
public protocol HandWrittenJSON: Encodable {
    func writtenJSON() -> [UInt8]?
}
