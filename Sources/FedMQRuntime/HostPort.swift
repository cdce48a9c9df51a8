/// `HOST:PORT` as configs and flags write an address to listen on or connect to.
public struct HostPort: Sendable, Equatable {
    public var host: String
    public var port: Int

    /// Parses `HOST:PORT` (the port within 1...65535); nil for anything else.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            return nil
        }
        let host = String(text[..<colon])
        guard !host.isEmpty else { return nil }
        (self.host, self.port) = (host, port)
    }
}
