import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Serves a live page: `GET /` the page with the feed's newest snapshot in it (in place of
/// `stateMarker`, so it renders without a request of its own), `GET /state` the snapshot
/// (JSON), and `GET /events` every snapshot as a server-sent event, so the page updates as the
/// job runs.
public struct DashboardServer: Service {
    let feed: LiveFeed
    let page: String
    let host: String
    let port: Int
    let logger: Logger

    /// Where `page` takes the snapshot: a JavaScript expression's place.
    public static let stateMarker = "/*FEDMQ_STATE*/null"

    /// JSON to put inside a `<script>`: `<` escaped, so no string in it (an agent's error
    /// text) can close the script and open markup of its own.
    static func scriptSafe(_ json: [UInt8]) -> String {
        String(decoding: json, as: UTF8.self).replacingOccurrences(of: "<", with: "\\u003c")
    }

    /// A server of `page` and `feed` on `host`:`port`.
    public init(feed: LiveFeed, page: String, host: String, port: Int, logger: Logger) {
        self.feed = feed
        self.page = page
        self.host = host
        self.port = port
        self.logger = logger
    }

    /// Serves until a graceful shutdown.
    public func run() async throws {
        let router = Router()
        router.get("/") { [page, feed] _, _ in
            let html = page.replacingOccurrences(of: Self.stateMarker, with: Self.scriptSafe(feed.latest))
            return Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
        }
        router.get("state") { [feed] _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: feed.latest)))
        }
        router.get("events") { [feed] _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                body: ResponseBody { writer in
                    for await snapshot in feed.updates().cancelOnGracefulShutdown() {
                        try await writer.write(ByteBuffer(string: "data: " + String(decoding: snapshot, as: UTF8.self) + "\n\n"))
                    }
                    try await writer.finish(nil)
                })
        }
        let application = Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "fedmq"),
            onServerRunning: { [logger, host, port] _ in logger.notice("dashboard on http://\(host):\(port)/") }, logger: logger)
        try await application.run()
    }
}
