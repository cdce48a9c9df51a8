import FedMQLocalBroker
import FedMQProtocol
import FedMQRuntime
import Foundation
import Testing

/// Hierarchical aggregation for real: a central broker and aggregator, two site brokers bridged
/// to it (partials only), a site aggregator and two training agents per site, every hop signed.
@Suite("Hierarchical aggregation across bridged site brokers", .hangGuard)
struct HierarchicalJobTests {
    static let sites = ["north", "south"]

    @Test(
        "signed partials of two sites make every round, each agent's update counted once, through a site aggregator killed mid-round and restarted from its spool"
    )
    func sitesFoldTheirAgents() async throws {
        try await withLocalBroker { central in
            let job = try FederatedJob(broker: central, job: "hier", agents: 4, rounds: 3, target: 2, minimum: 2, epochs: 1)
            let keys = try Keys(directory: job.directory)
            var siteBrokers: [LocalBroker] = []
            defer { for broker in siteBrokers { Task { await broker.remove() } } }
            for site in Self.sites {
                siteBrokers.append(
                    try await LocalBroker(
                        LocalBrokerConfiguration(extraLines: SiteBridge(site: site, centralPort: central.port, mode: .partials).lines)))
            }
            try writeCentralConfig(job, keys: keys)

            // Site aggregators first, subscribed before any agent trains: their sessions keep every update.
            var siteProcesses: [String: ChildProcess] = [:]
            for (index, site) in Self.sites.enumerated() {
                let config = try writeSiteConfig(job, site: site, port: siteBrokers[index].port, keys: keys)
                siteProcesses[site] = try startSite(job, site: site, config: config)
                let watcher = try await connectedClient(clientOptions(siteBrokers[index]))
                let status = try await watcher.subscribe(to: [try Topics(job: job.job).siteStatus(site: site)], qos: .atLeastOnce)
                let online = try await messages(status, count: 1, within: .seconds(60))
                #expect(try ProtocolJSON.decode(AggregatorStatus.self, from: online[0].payload).state == .online)
                await watcher.disconnect()
            }
            let aggregator = try job.startAggregator()
            // a1 (north) starts late: north, whose partial waits for its 2 enrolled agents, holds only a0's when it is killed.
            var agents: [ChildProcess] = []
            for index in [0, 2, 3] { agents.append(try startAgent(job, index, port: siteBrokers[index / 2].port, keys: keys)) }
            defer { for process in agents + [aggregator] + Array(siteProcesses.values) { process.send(SIGKILL) } }

            // North's aggregator dies by SIGKILL once it spooled a0's update of round 1, and restarts from its spool.
            try await eventually("north to accept a0's update of round 1", within: .seconds(120)) {
                job.log("site-north").contains("agent=a0") && job.log("site-north").contains("accepted update")
            }
            let killed = try #require(siteProcesses["north"])
            killed.send(SIGKILL)
            _ = try await within(.seconds(30), "north's aggregator to die") { try await killed.wait() }
            siteProcesses["north"] = try startSite(
                job, site: "north", config: job.directory.appendingPathComponent("site-north.json").path, log: "site-north-restarted")
            try await eventually("the restarted north to say whose updates it holds", within: .seconds(60)) {
                job.log("site-north-restarted").contains("said whose updates it holds")
            }
            #expect(job.log("site-north-restarted").contains("resumed round 1 with 1 spooled update(s), partial sent: false"))
            agents.append(try startAgent(job, 1, port: siteBrokers[0].port, keys: keys))

            let status = try await within(.seconds(180), "the central aggregator to finish 3 rounds") { try await aggregator.wait() }
            #expect(status == 0, "\(job.log("aggregator").suffix(3000))")
            let rounds = try job.metrics()
            #expect(rounds.map(\.round) == [1, 2, 3])
            for metrics in rounds {
                #expect(metrics.participants == Self.sites, "round \(metrics.round)")
                #expect(metrics.updates == 4 && metrics.siteUpdates == ["north": 2, "south": 2], "round \(metrics.round): \(metrics)")
                #expect(metrics.missingSites == [])
            }
            #expect(rounds.allSatisfy { $0.rejected.isEmpty }, "\(rounds.map(\.rejected))")
            #expect((rounds.last?.accuracy ?? 0) > 0.5, "\(rounds.map(\.accuracy))")
            // The site aggregators leave once the central one says the job is finished.
            for site in Self.sites {
                let process = try #require(siteProcesses[site])
                let exit = try await within(.seconds(60), "\(site)'s aggregator to exit") { try await process.wait() }
                #expect(exit == 0, "\(job.log("site-\(site)").suffix(2000))")
            }
            for agent in agents { await agent.stop() }
        }
    }

    /// The fleet's identity keys: the central aggregator's, each site's and each agent's.
    struct Keys {
        let directory: URL
        let aggregator: VerifyingKey
        let sites: [String: VerifyingKey]
        let agents: [String: VerifyingKey]

        init(directory: URL) throws {
            self.directory = directory
            func identity(_ name: String) throws -> VerifyingKey {
                let key = SigningKey()
                try IdentityFiles.write(key, to: directory.appendingPathComponent("\(name).key").path)
                return key.publicKey
            }
            aggregator = try identity("aggregator")
            sites = Dictionary(uniqueKeysWithValues: try HierarchicalJobTests.sites.map { ($0, try identity($0)) })
            agents = Dictionary(uniqueKeysWithValues: try (0..<4).map { ("a\($0)", try identity("a\($0)")) })
        }

        func path(_ name: String) -> String { directory.appendingPathComponent("\(name).key").path }

        /// Writes an enrolment file and returns its path.
        func enrolment(_ name: String, _ enrolment: Enrolment) throws -> String {
            let path = directory.appendingPathComponent("\(name)-enrolment.json").path
            try JSONEncoder().encode(enrolment).write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    /// The central aggregator counts sites: both close the round, and only partials their keys signed count.
    private func writeCentralConfig(_ job: FederatedJob, keys: Keys) throws {
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: job.configPath))) as? [String: Any])
        var policy = try #require(config["policy"] as? [String: Any])
        policy["sites"] = Self.sites
        config["policy"] = policy
        config["identity_key"] = keys.path("aggregator")
        config["enrolment"] = try keys.enrolment("central", Enrolment(aggregator: keys.aggregator, agents: [:], sites: keys.sites))
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: job.configPath))
    }

    /// A site aggregator's config: its broker, key and agents (a0, a1 at north; a2, a3 at south).
    private func writeSiteConfig(_ job: FederatedJob, site: String, port: Int, keys: Keys) throws -> String {
        let own = site == "north" ? ["a0", "a1"] : ["a2", "a3"]
        let enrolment = try keys.enrolment(site, Enrolment(aggregator: keys.aggregator, agents: keys.agents.filter { own.contains($0.key) }))
        // Each site's partial waits for both its enrolled agents (the default).
        let config: [String: Any] = [
            "job": job.job, "broker": ["host": "127.0.0.1", "port": port], "site": ["name": site],
            "state_directory": job.directory.appendingPathComponent("site-\(site)").path, "identity_key": keys.path(site), "enrolment": enrolment,
        ]
        let path = job.directory.appendingPathComponent("site-\(site).json").path
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func startSite(_ job: FederatedJob, site: String, config: String, log: String? = nil) throws -> ChildProcess {
        try ChildProcess(
            try executable("fedmq-aggregator").path, ["--config", config, "--log-level", "info"],
            logFile: job.directory.appendingPathComponent("\(log ?? "site-\(site)").log").path)
    }

    /// Agent `index` on its site's broker, signing with its key and trusting only the central aggregator's.
    private func startAgent(_ job: FederatedJob, _ index: Int, port: Int, keys: Keys) throws -> ChildProcess {
        try ChildProcess(
            try executable("fedmq-agent").path,
            [
                "--agent", "a\(index)", "--job", job.job, "--port", "\(port)", "--seed", "\(index)",
                "--data", job.directory.appendingPathComponent("client_\(index).csv").path,
                "--state-dir", job.directory.appendingPathComponent("agent-\(index)").path, "--log-level", "debug",
                "--identity-key", keys.path("a\(index)"), "--aggregator-key", keys.aggregator.base64,
            ], logFile: job.directory.appendingPathComponent("agent-\(index).log").path)
    }
}
