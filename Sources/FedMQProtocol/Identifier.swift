/// Job and agent ids: they become topic levels and file names, so only a safe alphabet.
public enum Identifier {
    public static let maxLength = 64

    /// Whether `value` is a valid agent or job id.
    public static func isValid(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= maxLength && value != "." && value != ".."
            && value.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == 0x2E || byte == 0x5F || byte == 0x2D
            }
    }

    /// Throws unless `value` is a valid id; `kind` ("job", "agent") names it in the error.
    public static func validate(_ value: String, kind: String) throws(ProtocolError) {
        guard isValid(value) else { throw .invalidIdentifier(kind: kind, value: value) }
    }
}
