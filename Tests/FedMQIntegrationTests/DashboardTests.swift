import FedMQLocalBroker
import FedMQProtocol
import FedMQTransport
import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `fedmq dashboard` in a real browser (headless Chromium) after a real job.
@Suite("Live dashboard in headless Chromium", .hangGuard)
struct DashboardTests {
    @Test("after a three-round job the page shows round 3/3, a point per round in each chart and every agent; an agent's text stays text")
    func rendersJob() async throws {
        try await withLocalBroker { broker in
            let job = try FederatedJob(broker: broker, job: "dash", agents: 2, rounds: 3, target: 2, minimum: 2, epochs: 1)
            let port = try LoopbackPort.free()
            let dashboard = try ChildProcess(
                try fedmqExecutable().path, ["dashboard", "--port", "\(broker.port)", "--job", "dash", "--listen", "127.0.0.1:\(port)"],
                logFile: job.directory.appendingPathComponent("dashboard.log").path)
            try await eventually("the dashboard to listen") { job.log("dashboard").contains("dashboard on http://127.0.0.1:\(port)/") }
            let aggregator = try job.startAggregator()
            let agents = try (0..<2).map { try job.startAgent($0) }
            #expect(try await within(.seconds(120), "the job") { try await aggregator.wait() } == 0)
            for agent in agents { await agent.stop() }
            // A hostile agent's status: its error text must show as text, never as markup.
            let hostile = try await connectedClient(clientOptions(broker))
            var status = AgentStatus(agent: "a9", state: .idle, lastRound: 0, time: 1)
            status.lastError = "</script><b id=\"injected\">x</b>"
            try await hostile.publish(try Topics(job: "dash").status(agent: "a9"), payload: ProtocolJSON.encode(status), retain: true)
            await hostile.disconnect()

            let stateURL = try #require(URL(string: "http://127.0.0.1:\(port)/state"))
            try await within(.seconds(30), "the dashboard to have seen it all") {
                while true {
                    let (body, _) = try await URLSession.shared.data(from: stateURL)
                    let state = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
                    if (state["history"] as? [Any])?.count == 3, (state["agents"] as? [Any])?.count == 3, state["aggregator"] as? String == "finished"
                    {
                        return
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            let domFile = job.directory.appendingPathComponent("dashboard-dom.html").path
            let browser = try ChildProcess(
                "/bin/sh",
                ["-c", "exec chromium --headless --no-sandbox --disable-gpu --dump-dom http://127.0.0.1:\(port)/ > '\(domFile)' 2>/dev/null"])
            #expect(try await within(.seconds(60), "chromium") { try await browser.wait() } == 0)
            let dom = try String(contentsOfFile: domFile, encoding: .utf8)
            #expect(dom.contains(#"id="progress" data-round="3">round 3/3, aggregator finished<"#), "\(dom.prefix(3000))")
            for chart in ["accuracy", "loss"] { #expect(dom.contains(#"id="chart-\#(chart)" width="320" height="160" data-points="3""#)) }
            #expect(dom.contains(#"id="chart-staleness" width="320" height="160" data-points="0""#), "a rounds job has no staleness")
            for agent in ["a0", "a1", "a9"] { #expect(dom.contains(#"data-agent="\#(agent)""#), "\(agent)") }
            #expect(!dom.contains(#"<b id="injected">"#) && dom.contains("&lt;/script&gt;&lt;b id=\"injected\"&gt;x&lt;/b&gt;"))
            await dashboard.stop()
        }
    }
}
