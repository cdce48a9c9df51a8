import ArgumentParser
import FedMQRuntime

/// The broker flags `fedmq-agent` and `fedmq-aggregator` share; each overrides the config file.
public struct BrokerFlags: ParsableArguments {
    @Option(help: "Broker host.") public var host: String?
    @Option(help: "Broker port.") public var port: Int?
    @Option(help: "Broker user name.") public var username: String?
    @Option(name: .customLong("password-file"), help: "File whose first line is the broker password.") public var passwordFile: String?
    @Option(name: .customLong("ca-file"), help: "CA certificate (PEM); enables TLS.") public var caFile: String?
    @Option(name: .customLong("cert-file"), help: "Client certificate (PEM).") public var certFile: String?
    @Option(name: .customLong("key-file"), help: "Client key (PEM).") public var keyFile: String?

    /// No flags given.
    public init() {}

    /// Overrides the fields of `settings` that a flag gave.
    public func apply(to settings: inout BrokerSettings) {
        if let host { settings.host = host }
        if let port { settings.port = port }
        if let username { settings.username = username }
        if let passwordFile { settings.passwordFile = passwordFile }
        if let caFile { settings.caFile = caFile }
        if let certFile { settings.certFile = certFile }
        if let keyFile { settings.keyFile = keyFile }
    }
}
