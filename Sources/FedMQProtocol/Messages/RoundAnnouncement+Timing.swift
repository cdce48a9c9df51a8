/// What an announcement says about time, in either job mode: a round's deadline ends it; an
/// asynchronous job's round stays usable until `max_staleness` newer versions exist.
extension RoundAnnouncement {
    /// Whether an agent may still start training for this round at `now`.
    public func isOpen(now: Double) -> Bool {
        asynchronous != nil || now < deadline
    }

    /// Whether an update trained for `round` still counts while this announcement is the newest.
    public func accepts(round trained: Int, now: Double) -> Bool {
        guard let asynchronous else { return trained == round && now < deadline }
        return trained <= round && round - trained <= asynchronous.maxStaleness
    }

    /// The MQTT 5 message expiry of an update published at `now`: the round's deadline, or an
    /// asynchronous job's `update_expiry_seconds`.
    public func updateExpirySeconds(now: Double) -> UInt32 {
        guard let asynchronous else { return MessageExpiry.seconds(until: deadline, now: now) }
        return MessageExpiry.seconds(until: now + asynchronous.updateExpirySeconds, now: now)
    }
}
