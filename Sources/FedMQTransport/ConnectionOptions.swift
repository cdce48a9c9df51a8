/// Which MQTT protocol version a client speaks.
public enum ProtocolVersion: Sendable, Equatable {
    case v5
    case v311
}

/// Whether the broker keeps a client's subscriptions and queued messages between connections.
public enum SessionMode: Sendable, Equatable {
    /// Start every connection with an empty session (MQTT clean start).
    case clean
    /// Resume the session; the broker keeps it for `expiry` after a disconnect
    /// (MQTT 5 session expiry interval; with 3.1.1 the broker decides). Needs a client id.
    case persistent(expiry: Duration)
}

/// User name and password sent in CONNECT.
public struct Credentials: Sendable, Equatable {
    public var username: String
    public var password: String?

    /// A user name and, if the broker needs one, a password.
    public init(username: String, password: String?) {
        self.username = username
        self.password = password
    }
}

/// TLS settings. Paths name PEM files.
public struct TLSOptions: Sendable, Equatable {
    /// The TLS versions libmosquitto accepts.
    public enum Version: String, Sendable {
        case tls12 = "tlsv1.2"
        case tls13 = "tlsv1.3"
    }

    /// CA certificate(s) the broker's certificate must chain to.
    public var caFile: String
    /// Client certificate and key, for brokers that authenticate clients by certificate.
    public var certificateFile: String?
    public var keyFile: String?
    /// Password of an encrypted key file. Without it an encrypted key fails cleanly
    /// instead of prompting on the terminal.
    public var keyPassword: String?
    /// Check that the broker's certificate names the host we connect to.
    public var verifyHostname: Bool
    /// Minimum TLS version (libmosquitto's `tls_version`).
    public var version: Version

    /// TLS verified against `caFile`; a client certificate if both files are given.
    public init(
        caFile: String, certificateFile: String? = nil, keyFile: String? = nil, keyPassword: String? = nil,
        verifyHostname: Bool = true, version: Version = .tls12
    ) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.keyPassword = keyPassword
        self.verifyHostname = verifyHostname
        self.version = version
    }
}

/// The message the broker publishes for us if we vanish without a DISCONNECT.
public struct LastWill: Sendable, Equatable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: QoS
    public var retain: Bool

    /// A last will on `topic`.
    public init(topic: String, payload: [UInt8], qos: QoS = .atLeastOnce, retain: Bool = false) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
    }
}

/// Everything needed to reach a broker and keep the connection up.
public struct ConnectionOptions: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// Client identifier; when nil the library makes a random one (clean sessions only).
    public var clientID: String?
    public var session: SessionMode
    public var credentials: Credentials?
    public var tls: TLSOptions?
    /// Seconds between keepalive pings (5 to 65535).
    public var keepAlive: Int
    public var will: LastWill?
    /// How long `connect()` waits for the broker to accept; nil waits (and retries) forever.
    public var connectTimeout: Duration?
    public var protocolVersion: ProtocolVersion
    public var reconnect: ReconnectPolicy

    /// A connection to `host`:`port`; `validate()` checks the options.
    public init(
        host: String = "127.0.0.1", port: Int = 1883, clientID: String? = nil, session: SessionMode = .clean,
        credentials: Credentials? = nil, tls: TLSOptions? = nil, keepAlive: Int = 30, will: LastWill? = nil,
        connectTimeout: Duration? = .seconds(10), protocolVersion: ProtocolVersion = .v5,
        reconnect: ReconnectPolicy = .init()
    ) {
        self.host = host
        self.port = port
        self.clientID = clientID
        self.session = session
        self.credentials = credentials
        self.tls = tls
        self.keepAlive = keepAlive
        self.will = will
        self.connectTimeout = connectTimeout
        self.protocolVersion = protocolVersion
        self.reconnect = reconnect
    }

    /// Checks the values libmosquitto would otherwise reject with a less helpful message.
    public func validate() throws(MQTTError) {
        func invalid(_ text: String) -> MQTTError { MQTTError(.invalidArgument, call: "connect", detail: text) }
        if host.isEmpty { throw invalid("host is empty") }
        if !(1...65535).contains(port) { throw invalid("port \(port) is outside 1...65535") }
        if !(5...65535).contains(keepAlive) { throw invalid("keepalive \(keepAlive) s is outside 5...65535") }
        if case .persistent = session, clientID == nil {
            throw invalid("a persistent session needs a client id")
        }
        if let clientID, clientID.utf8.count > 65535 { throw invalid("client id is too long") }
        if let will { try TopicName.validate(will.topic, call: "connect (last will)") }
        try reconnect.validate()
    }
}
