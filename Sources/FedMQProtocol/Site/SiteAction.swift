/// What a site aggregator keeps across restarts: the central round its spool belongs to, and
/// whether its partial for that round was sent (acknowledged by the site broker).
public struct SiteCheckpoint: Codable, Sendable, Equatable, SchemaVersioned {
    public static let schema = "fedmq.site-checkpoint/1"
    public var schema: String = Self.schema
    public var round: Int
    public var sent: Bool

    /// The state of `round`.
    public init(round: Int, sent: Bool) {
        self.round = round
        self.sent = sent
    }

    /// Refuses a round out of range.
    public func validate() throws(ProtocolError) {
        guard (1...RoundAnnouncement.maxRound).contains(round) else {
            throw .invalidMessage(schema: Self.schema, reason: "round must be within 1...\(RoundAnnouncement.maxRound)")
        }
    }
}

/// What a site aggregator's runtime must do, in order, after an event.
public enum SiteAction: Sendable, Equatable {
    /// Persist an accepted update durably (appended to the round's spool, fsynced before the
    /// next other action); it already counts in the site's partial.
    case spool(round: Int, agent: String, payload: [UInt8])
    /// Persist the checkpoint atomically; spools of other rounds may go.
    case checkpoint(SiteCheckpoint)
    /// Publish the partial on `round/<round>/partial/<site>` (QoS 1, MQTT 5 message expiry
    /// `expirySeconds`), signed as `SignedStatement.partial` on base model `baseSHA256`; the
    /// checkpoint that says it was sent follows.
    case publishPartial(round: Int, baseSHA256: String, payload: [UInt8], updates: Int, expirySeconds: UInt32)
    /// Publish the receipt on `site/<site>/received`, retained: agents missing from it resend.
    case publishReceipt(SiteReceipt)
    /// Log (and count) a refused update.
    case rejected(Rejection)
    /// Log a message that was not used, and why.
    case ignored(String)
}
