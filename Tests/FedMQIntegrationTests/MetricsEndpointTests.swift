import FedMQLocalBroker
import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The aggregator's Prometheus endpoint, scraped as Prometheus would and checked by promtool.
@Suite("Prometheus metrics with real processes", .hangGuard)
struct MetricsEndpointTests {
    @Test("after two rounds /metrics counts them, their updates and their durations, and promtool accepts the exposition")
    func scrape() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(
                broker: broker, job: "metrics", agents: 2, rounds: 2, target: 2, minimum: 2, epochs: 1,
                extraConfig: ["exit_when_finished": false])
            let port = try LoopbackPort.free()
            let aggregator = try job.startAggregator(extra: ["--metrics-address", "127.0.0.1:\(port)"])
            let agents = try (0..<2).map { try job.startAgent($0) }
            try await eventually("two closed rounds") { try job.metrics().count == 2 }
            try await eventually("the endpoint to listen") { job.log("aggregator").contains("metrics on http://127.0.0.1:\(port)/metrics") }

            let (body, response) = try await URLSession.shared.data(from: try #require(URL(string: "http://127.0.0.1:\(port)/metrics")))
            let text = String(decoding: body, as: UTF8.self)
            #expect((response as? HTTPURLResponse)?.statusCode == 200)
            #expect((response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
            for line in [
                #"fedmq_rounds_closed_total{job="metrics"} 2"#, #"fedmq_updates_accepted_total{job="metrics"} 4"#,
                #"fedmq_round{job="metrics"} 2.0"#, #"fedmq_round_duration_seconds_count{job="metrics"} 2"#,
            ] {
                #expect(text.split(separator: "\n").contains(Substring(line)), "\(line) in:\n\(text)")
            }
            #expect(text.contains(#"fedmq_agents_online{job="metrics"}"#))

            let exposition = job.directory.appendingPathComponent("exposition.txt").path
            try text.write(toFile: exposition, atomically: true, encoding: .utf8)
            let check = try ChildProcess(
                "/bin/sh", ["-c", "exec promtool check metrics < '\(exposition)'"],
                logFile: job.directory.appendingPathComponent("promtool.log").path)
            #expect(try await within(.seconds(30), "promtool") { try await check.wait() } == 0, "\(job.log("promtool"))")

            // Every series the Grafana dashboard in deploy/ plots is one the endpoint serves.
            let dashboard = try String(contentsOfFile: repositoryFile("deploy/grafana/fedmq-dashboard.json"), encoding: .utf8)
            let plotted = Set(dashboard.matches(of: /fedmq_[a-z_]+/).map { String($0.output) })
            let served = Set(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { $0.split(separator: "{").first.map(String.init) })
            // (This job has no privacy and runs rounds: epsilon and staleness are the series it does not have.)
            #expect(
                !plotted.isEmpty && plotted.subtracting(served) == ["fedmq_epsilon", "fedmq_update_staleness_versions_bucket"],
                "plotted but not served: \(plotted.subtracting(served))")
            #expect(text.contains(#"fedmq_updates_rejected_total{job="metrics",reason="bad_signature"} 0"#), "zero, not missing")

            #expect(await aggregator.stop() == 0, "\(job.log("aggregator").suffix(1500))")
            for agent in agents { await agent.stop() }
        }
    }
}
