import FedMQTransport
import FoundationEssentials

/// How a runtime reaches the broker. JSON keys are snake_case (config files); every field has
/// its default here, so a field is its declaration and its key in `CodingKeys`.
public struct BrokerSettings: Codable, Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 1883
    public var username: String?
    /// Read the password from this file (first line), so it stays out of command lines.
    public var passwordFile: String?
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?
    public var keepAlive = 30
    /// Send a password over plain-text MQTT (no `ca_file`) anyway: anyone on the path reads it.
    public var allowInsecure = false

    /// A local broker on 127.0.0.1:1883 without TLS or credentials.
    public init() {}

    /// A broker at `host`:`port`, the rest at defaults.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    enum CodingKeys: String, CodingKey {
        case host, port, username
        case passwordFile = "password_file"
        case caFile = "ca_file"
        case certFile = "cert_file"
        case keyFile = "key_file"
        case keepAlive = "keepalive"
        case allowInsecure = "allow_insecure"
    }

    /// The same settings with relative file paths taken relative to `directory` (the config
    /// file's folder), so a config and its certificates can move together.
    public func resolvingPaths(relativeTo directory: String) -> BrokerSettings {
        func resolve(_ path: String?) -> String? { resolvePath(path, relativeTo: directory) }
        var copy = self
        copy.passwordFile = resolve(passwordFile)
        copy.caFile = resolve(caFile)
        copy.certFile = resolve(certFile)
        copy.keyFile = resolve(keyFile)
        return copy
    }

    /// Connection options for a client that never gives up: it waits for the broker as long as
    /// it takes (retrying with backoff) and reconnects forever. A persistent session makes the
    /// broker queue QoS 1 messages for the client while it is away.
    public func connectionOptions(
        clientID: String, will: LastWill?, session: SessionMode = .clean
    ) throws(RuntimeError) -> ConnectionOptions {
        var password: String?
        if passwordFile != nil && caFile == nil && !allowInsecure {
            throw .configuration(
                "broker: a password over plain-text MQTT can be read by anyone on the way; set ca_file for TLS, or allow_insecure: true to send it anyway"
            )
        }
        if let passwordFile {
            guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8) else {
                throw .file(path: passwordFile, reason: "cannot read the password file")
            }
            password = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init)
        }
        let options = ConnectionOptions(
            host: host, port: port, clientID: clientID, session: session,
            credentials: username.map { Credentials(username: $0, password: password) },
            tls: caFile.map { TLSOptions(caFile: $0, certificateFile: certFile, keyFile: keyFile) }, keepAlive: keepAlive,
            will: will, connectTimeout: nil,
            reconnect: ReconnectPolicy(initialDelay: .milliseconds(250), maximumDelay: .seconds(30)))
        do {
            try options.validate()
        } catch {
            throw .configuration("broker: \(error.detail)")
        }
        return options
    }
}

/// A path from a config file, read relative to the file's folder unless it is absolute.
public func resolvePath(_ path: String?, relativeTo directory: String) -> String? {
    guard let path, !path.hasPrefix("/") else { return path }
    return URL(fileURLWithPath: directory).appendingPathComponent(path).standardized.path
}
