import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// Serves this process's metrics in Prometheus's text format on `GET /metrics`, as a service
/// beside the runtime: whatever the runtime counts into the registry.
public struct MetricsEndpoint: Service {
    let registry: PrometheusCollectorRegistry
    let host: String
    let port: Int
    let logger: Logger

    /// An endpoint serving `registry` on `host`:`port`.
    public init(registry: PrometheusCollectorRegistry, host: String, port: Int, logger: Logger) {
        self.registry = registry
        self.host = host
        self.port = port
        self.logger = logger
    }

    /// Serves until a graceful shutdown.
    public func run() async throws {
        let router = Router()
        router.get("metrics") { [registry] _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        let application = Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "fedmq"),
            onServerRunning: { [logger, host, port] _ in logger.notice("metrics on http://\(host):\(port)/metrics") }, logger: logger)
        try await application.run()
    }
}
