import ArgumentParser
import FedMQCommandLine
import FedMQMetrics
import FedMQProtocol
import FedMQRuntime
import Foundation
import Logging

/// `fedmq dashboard`: a live web page of one job, from its MQTT messages.
struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Serve a live web page of a job: accuracy, loss and epsilon per round, agents, rejections.",
        discussion: """
            Open http://LISTEN/ in a browser. The page follows the job as it runs (server-sent events); rounds closed
            before the dashboard started show from the last one retained on. Stops on SIGINT/SIGTERM.
            """
    )

    @OptionGroup var broker: BrokerOptions
    @Option(help: "Job id.") var job: String
    @Option(help: "Address to serve the page on (HOST:PORT); it has no authentication.") var listen = "127.0.0.1:8080"

    func validate() throws {
        guard HostPort(listen) != nil else { throw ValidationError("--listen must be HOST:PORT") }
    }

    func run() async throws {
        let topics = try Topics(job: job)
        guard let address = HostPort(listen) else { throw ValidationError("--listen must be HOST:PORT") }
        bootstrapLogging(level: .notice)
        let logger = Logger(label: "fedmq.dashboard")
        let feed = LiveFeed(initial: JobState(topics: topics).dashboardSnapshot())
        let source = DashboardSource(topics: topics, options: try broker.connectionOptions(), feed: feed, logger: logger)
        let server = DashboardServer(feed: feed, page: DashboardPage.html, host: address.host, port: address.port, logger: logger)
        try await runUntilShutdown(source, alongside: [server], logger: logger)
    }
}
