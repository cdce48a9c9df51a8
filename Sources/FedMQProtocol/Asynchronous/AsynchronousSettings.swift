import FedMQCore

/// An asynchronous job's rules, in the aggregator's policy (`"asynchronous": {...}`) and in
/// every announcement of such a job. The announcement's `round` is then the model's version:
/// agents train on the newest version they hold and name it as their update's round; the
/// aggregator applies every `target_updates` accepted updates (the buffer) as one new version.
public struct AsynchronousSettings: Codable, Sendable, Equatable {
    /// The oldest base an update may have: current version minus this.
    public var maxStaleness: Int
    /// How an update's weight falls with its staleness.
    public var staleness: StalenessWeight
    /// MQTT 5 message expiry of an agent's update on the broker, in seconds: an update that
    /// waited longer (its agent published while the aggregator was down) is likely too stale.
    public var updateExpirySeconds: Double

    /// FedBuff's defaults: staleness up to 10 versions, weighted (1 + s)^-0.5.
    public init(maxStaleness: Int = 10, staleness: StalenessWeight = StalenessWeight(), updateExpirySeconds: Double = 3600) {
        self.maxStaleness = maxStaleness
        self.staleness = staleness
        self.updateExpirySeconds = updateExpirySeconds
    }

    enum CodingKeys: String, CodingKey {
        case staleness
        case maxStaleness = "max_staleness"
        case updateExpirySeconds = "update_expiry_seconds"
    }

    /// Field by field, with the defaults above for what a config leaves out.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = Self()
        maxStaleness = try container.decodeIfPresent(Int.self, forKey: .maxStaleness) ?? defaults.maxStaleness
        staleness = try container.decodeIfPresent(StalenessWeight.self, forKey: .staleness) ?? defaults.staleness
        updateExpirySeconds = try container.decodeIfPresent(Double.self, forKey: .updateExpirySeconds) ?? defaults.updateExpirySeconds
    }

    /// The largest `max_staleness`: the aggregator keeps the hash of that many past versions.
    public static let maxStalenessLimit = 1000

    /// Refuses settings an aggregator cannot run or an agent must not act on, naming the field.
    public func validate() throws(ProtocolError) {
        guard (0...Self.maxStalenessLimit).contains(maxStaleness) else {
            throw .invalidConfiguration("asynchronous.max_staleness must be within 0...\(Self.maxStalenessLimit)")
        }
        guard updateExpirySeconds >= 1, updateExpirySeconds <= RoundAnnouncement.maxRoundSeconds else {
            throw .invalidConfiguration("asynchronous.update_expiry_seconds must be within 1...\(Int(RoundAnnouncement.maxRoundSeconds))")
        }
        do {
            try staleness.validate()
        } catch {
            throw .invalidConfiguration("asynchronous.\(error)")
        }
    }
}
