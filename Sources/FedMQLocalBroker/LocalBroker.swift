// Everything that starts a broker, the demo or a benchmark also starts processes with it.
@_exported import FedMQProcess
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A private `mosquitto` process on free loopback ports, with its config, password file, ACL
/// and certificates in its own temporary folder. Stop it with `stop()` (SIGTERM, then SIGKILL),
/// or use `withLocalBroker`, which always stops it. It is only ever signalled by its own PID.
public final class LocalBroker: Sendable {
    public let configuration: LocalBrokerConfiguration
    /// Port of the plain MQTT listener.
    public var port: Int { ports.withLock { $0.plain } }
    /// Port of the TLS listener, when `configuration.tls`.
    public var tlsPort: Int? { ports.withLock { $0.tls } }
    /// Chosen once, or again when the broker could not bind them (see `init`).
    private let ports: Mutex<(plain: Int, tls: Int?)>
    public let directory: URL
    /// The CA that signed the broker's certificate, when `configuration.tls`.
    public let certificateAuthority: CertificateAuthority?
    private let process = Mutex<ChildProcess?>(nil)

    public let configFile: String
    public let logFile: String

    /// Writes the configuration and starts the broker; returns once it accepts connections.
    public init(_ configuration: LocalBrokerConfiguration = .init()) async throws {
        self.configuration = configuration
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-broker-\(UUID().uuidString)")
        configFile = directory.appendingPathComponent("mosquitto.conf").path
        logFile = directory.appendingPathComponent("mosquitto.log").path
        certificateAuthority =
            configuration.tls ? try CertificateAuthority(directory: directory.appendingPathComponent("pki")) : nil
        ports = Mutex((try LoopbackPort.free(), configuration.tls ? try LoopbackPort.free() : nil))
        // Another process may bind a port between the check and the broker's bind: then the
        // broker exits, and it is started again on other ports.
        var attempt = 0
        while true {
            try writeFiles()
            do {
                try await start()
                return
            } catch LocalBrokerError.brokerDidNotStart(_, let reason, _) where reason.hasPrefix("it exited") && attempt < 4 {
                attempt += 1
                let fresh = (try LoopbackPort.free(), configuration.tls ? try LoopbackPort.free() : nil)
                ports.withLock { $0 = fresh }
            }
        }
    }

    /// Runs mosquitto with a config written elsewhere (a generated production config, a
    /// bridge), whose listeners include `port`; its output goes to `directory`/mosquitto.log.
    public init(existingConfig path: String, port: Int, directory: URL) async throws {
        configuration = LocalBrokerConfiguration()
        ports = Mutex((port, nil))
        certificateAuthority = nil
        self.directory = directory
        configFile = path
        logFile = directory.appendingPathComponent("mosquitto.log").path
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try await start()
    }

    /// Process id of the running broker, or nil when stopped.
    public var processIdentifier: Int32? {
        process.withLock { $0?.pid }
    }

    /// Starts the broker again on the same ports (after `stop()` or `kill()`).
    public func start() async throws {
        let launched = try ChildProcess(try Programs.path(of: "mosquitto"), ["-c", configFile], logFile: logFile)
        process.withLock { $0 = launched }
        let ports = [port] + (tlsPort.map { [$0] } ?? [])
        for _ in 0..<500 {
            if let raw = launched.poll() {
                process.withLock { $0 = nil }
                throw LocalBrokerError.brokerDidNotStart(port: port, reason: "it exited with status \(ChildProcess.exitCode(raw))", log: logTail())
            }
            if ports.allSatisfy(LoopbackPort.accepts) { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        await stop()
        throw LocalBrokerError.brokerDidNotStart(port: port, reason: "no listener after 5 s", log: logTail())
    }

    /// SIGTERM, so the broker saves its persistence file; SIGKILL if it has not exited in 5 s.
    public func stop() async {
        await terminate(signal: SIGTERM)
    }

    /// SIGKILL: the broker dies at once, as in a power cut.
    public func kill() async {
        await terminate(signal: SIGKILL)
    }

    private func terminate(signal: Int32) async {
        guard
            let running = process.withLock({ process in
                defer { process = nil }
                return process
            })
        else { return }
        await running.stop(signal: signal)
    }

    /// The last lines of the broker's log, for error messages.
    public func logTail(lines: Int = 20) -> String {
        let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "(no log)"
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// Stops the broker and removes its folder.
    public func remove() async {
        await stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Runs `body` with a fresh broker, then stops it and deletes its files, whether `body`
/// returned or threw.
public func withLocalBroker<Result: Sendable>(
    _ configuration: LocalBrokerConfiguration = .init(), _ body: (LocalBroker) async throws -> Result
) async throws -> Result {
    let broker = try await LocalBroker(configuration)
    do {
        let result = try await body(broker)
        await broker.remove()
        return result
    } catch {
        await broker.remove()
        throw error
    }
}
