import ArgumentParser
import FedMQTransport

/// Broker connection flags shared by every subcommand that talks to a broker.
struct BrokerOptions: ParsableArguments {
    @Option(help: "Broker host name or address.")
    var host = "127.0.0.1"

    @Option(help: "Broker port.")
    var port = 1883

    @Option(name: .customLong("client-id"), help: "MQTT client id (default: random).")
    var clientID: String?

    @Option(help: "User name for the broker.")
    var username: String?

    @Option(help: "Password for the broker (prefer --password-file).")
    var password: String?

    @Option(name: .customLong("ca-file"), help: "CA certificate (PEM); enables TLS.")
    var caFile: String?

    @Option(name: .customLong("cert-file"), help: "Client certificate (PEM), with --key-file.")
    var certFile: String?

    @Option(name: .customLong("key-file"), help: "Client key (PEM), with --cert-file.")
    var keyFile: String?

    @Flag(name: .customLong("mqtt311"), help: "Speak MQTT 3.1.1 instead of MQTT 5.")
    var mqtt311 = false

    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for the broker to accept.")
    var connectTimeout: Double = 10

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port \(port) is outside 1...65535") }
        guard connectTimeout > 0 else { throw ValidationError("--connect-timeout must be positive") }
        guard (certFile == nil) == (keyFile == nil) else {
            throw ValidationError("--cert-file and --key-file go together")
        }
        if certFile != nil && caFile == nil { throw ValidationError("--cert-file needs --ca-file (TLS)") }
    }

    func connectionOptions(will: LastWill? = nil) -> ConnectionOptions {
        ConnectionOptions(
            host: host, port: port, clientID: clientID,
            credentials: username.map { Credentials(username: $0, password: password) },
            tls: caFile.map { TLSOptions(caFile: $0, certificateFile: certFile, keyFile: keyFile) },
            will: will, connectTimeout: .milliseconds(Int64(connectTimeout * 1000)),
            protocolVersion: mqtt311 ? .v311 : .v5)
    }
}
