/// What kind of private broker to run. Every listener binds 127.0.0.1 only.
public struct LocalBrokerConfiguration: Sendable {
    /// Accept clients without credentials.
    public var allowAnonymous: Bool
    /// User name -> password, written to a `password_file` with `mosquitto_passwd`.
    public var users: [String: String]
    /// Lines of an `acl_file` (`user`, `topic`, `pattern` ...); nil means no ACL.
    public var aclRules: [String]?
    /// Also open a TLS listener, with certificates from a fresh `CertificateAuthority`.
    public var tls: Bool
    /// Ask TLS clients for a certificate and take the user name from its CN.
    public var requireClientCertificates: Bool
    /// Keep retained messages and sessions across restarts (`persistence true`).
    public var persistence: Bool
    /// Seconds between persistence saves; short so a killed broker loses little.
    public var autosaveInterval: Int
    /// Largest packet the broker accepts (MQTT 5 clients refuse bigger publishes locally).
    public var maxPacketSize: Int?
    /// Further `mosquitto.conf` lines, appended as they are.
    public var extraLines: [String]

    /// An anonymous broker without TLS unless told otherwise.
    public init(
        allowAnonymous: Bool = true, users: [String: String] = [:], aclRules: [String]? = nil, tls: Bool = false,
        requireClientCertificates: Bool = false, persistence: Bool = false, autosaveInterval: Int = 1,
        maxPacketSize: Int? = nil, extraLines: [String] = []
    ) {
        self.allowAnonymous = allowAnonymous
        self.users = users
        self.aclRules = aclRules
        self.tls = tls
        self.requireClientCertificates = requireClientCertificates
        self.persistence = persistence
        self.autosaveInterval = autosaveInterval
        self.maxPacketSize = maxPacketSize
        self.extraLines = extraLines
    }
}
