import ArgumentParser
import FedMQCommandLine
import FedMQTransport
import Foundation

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

    @Option(name: .customLong("password-file"), help: "File whose first line is the broker password (or set FEDMQ_MQTT_PASSWORD).")
    var passwordFile: String?

    @Flag(name: .customLong("allow-insecure"), help: "Send a password without TLS anyway.")
    var allowInsecure = false

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
        if try password() != nil && caFile == nil && !allowInsecure {
            throw ValidationError("a password over plain-text MQTT can be read by anyone on the way: give --ca-file, or --allow-insecure")
        }
    }

    /// The password: the first line of --password-file, else FEDMQ_MQTT_PASSWORD; never a
    /// flag, which every user of the machine could read in the process list.
    func password() throws -> String? {
        if let passwordFile {
            guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8) else {
                throw ValidationError("cannot read the password file \(passwordFile)")
            }
            return text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init)
        }
        return ProcessInfo.processInfo.environment["FEDMQ_MQTT_PASSWORD"]
    }

    func connectionOptions(will: LastWill? = nil) throws -> ConnectionOptions {
        let password = username == nil ? nil : try password()
        return ConnectionOptions(
            host: host, port: port, clientID: clientID,
            credentials: username.map { Credentials(username: $0, password: password) },
            tls: caFile.map { TLSOptions(caFile: $0, certificateFile: certFile, keyFile: keyFile) },
            will: will, connectTimeout: .milliseconds(Int64(connectTimeout * 1000)),
            protocolVersion: mqtt311 ? .v311 : .v5)
    }
}
