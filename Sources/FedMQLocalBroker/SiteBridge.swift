/// The `mosquitto.conf` lines that bridge a site broker to a central one over plain loopback,
/// for simulations and tests. The topics are those of the deploy examples (a test keeps them
/// equal): `deploy/bridge/site-bridge.conf` forwards what agents send up and what the
/// aggregator sends down; `deploy/bridge/site-partials.conf`, for a site with its own
/// aggregator, forwards only that site's partials and status up.
public struct SiteBridge: Sendable {
    /// What crosses the bridge.
    public enum Mode: Sendable {
        /// Agents' updates, statuses and every feature's topics go up (one aggregator, centrally).
        case updates
        /// Only the site aggregator's partials and status go up (hierarchical aggregation).
        case partials
    }

    /// `pattern direction` pairs of the `updates` mode, all at QoS 1.
    public static let topics: [(pattern: String, direction: String)] =
        [
            ("fedmq/v1/+/round/+/update/+", "out"),
            ("fedmq/v1/+/round/+/eval/+", "out"),
            ("fedmq/v1/+/status/+", "out"),
            ("fedmq/v1/+/round/+/secagg/keys/+", "out"),
            ("fedmq/v1/+/round/+/secagg/shares/+", "out"),
            ("fedmq/v1/+/round/+/secagg/masked/+", "out"),
            ("fedmq/v1/+/round/+/secagg/reveal/+", "out"),
        ] + downward + [
            ("fedmq/v1/+/round/+/secagg/inbox/#", "in"),
            ("fedmq/v1/+/round/+/secagg/unmask", "in"),
        ]

    /// What comes down in either mode: the retained model, round, metrics and aggregator status.
    static let downward = [
        ("fedmq/v1/+/global/#", "in"),
        ("fedmq/v1/+/metrics", "in"),
        ("fedmq/v1/+/aggregator/status", "in"),
    ]

    /// `pattern direction` pairs of the `partials` mode for site `site`, all at QoS 1: a site
    /// sends up only its own partials and status.
    public static func partialTopics(site: String) -> [(pattern: String, direction: String)] {
        [("fedmq/v1/+/round/+/partial/\(site)", "out"), ("fedmq/v1/+/site/\(site)/status", "out")] + downward
    }

    public var site: String
    public var centralPort: Int
    public var mode: Mode

    /// The bridge of site `site` (its client ids' suffix) to the central broker on loopback `centralPort`.
    public init(site: String, centralPort: Int, mode: Mode = .updates) {
        self.site = site
        self.centralPort = centralPort
        self.mode = mode
    }

    /// The bridge's lines, for `LocalBrokerConfiguration.extraLines`. A persistent bridge
    /// session keeps updates queued across a link outage.
    public var lines: [String] {
        let topics = mode == .updates ? Self.topics : Self.partialTopics(site: site)
        return [
            "connection fedmq-\(site)",
            "address 127.0.0.1:\(centralPort)",
            "bridge_protocol_version mqttv50",
            "cleansession false",
            "local_clientid fedmq-bridge-\(site)-local",
            "remote_clientid fedmq-bridge-\(site)",
            "restart_timeout 1 10",
            "try_private true",
            "notifications false",
        ] + topics.map { "topic \($0.pattern) \($0.direction) 1" }
    }
}
