/// The `mosquitto.conf` lines that bridge a site broker to a central one over plain loopback,
/// for simulations and tests. The topics are those of `deploy/bridge/site-bridge.conf` (a test
/// keeps the two equal): what agents send goes up, what the aggregator sends comes down.
public struct SiteBridge: Sendable {
    /// `pattern direction` pairs, all at QoS 1.
    public static let topics: [(pattern: String, direction: String)] = [
        ("fedmq/v1/+/round/+/update/+", "out"),
        ("fedmq/v1/+/round/+/eval/+", "out"),
        ("fedmq/v1/+/status/+", "out"),
        ("fedmq/v1/+/round/+/secagg/keys/+", "out"),
        ("fedmq/v1/+/round/+/secagg/shares/+", "out"),
        ("fedmq/v1/+/round/+/secagg/masked/+", "out"),
        ("fedmq/v1/+/round/+/secagg/reveal/+", "out"),
        ("fedmq/v1/+/global/#", "in"),
        ("fedmq/v1/+/metrics", "in"),
        ("fedmq/v1/+/aggregator/status", "in"),
        ("fedmq/v1/+/round/+/secagg/inbox/#", "in"),
        ("fedmq/v1/+/round/+/secagg/unmask", "in"),
    ]

    public var site: String
    public var centralPort: Int

    /// The bridge of site `site` (its client ids' suffix) to the central broker on loopback `centralPort`.
    public init(site: String, centralPort: Int) {
        self.site = site
        self.centralPort = centralPort
    }

    /// The bridge's lines, for `LocalBrokerConfiguration.extraLines`. A persistent bridge
    /// session keeps updates queued across a link outage.
    public var lines: [String] {
        [
            "connection fedmq-\(site)",
            "address 127.0.0.1:\(centralPort)",
            "bridge_protocol_version mqttv50",
            "cleansession false",
            "local_clientid fedmq-bridge-\(site)-local",
            "remote_clientid fedmq-bridge-\(site)",
            "restart_timeout 1 10",
            "try_private true",
            "notifications false",
        ] + Self.topics.map { "topic \($0.pattern) \($0.direction) 1" }
    }
}
