/// MQTT 5 message expiry for a message that matters until `deadline`: whole seconds from
/// `now`, at least 1 and clamped to what the property holds. Deadlines come from the network
/// and clocks drift (a device without a real-time clock may think it is 1970), so the
/// difference is never converted unchecked.
public enum MessageExpiry {
    /// The MQTT message expiry that ends a message at `deadline`: at least one second.
    public static func seconds(until deadline: Double, now: Double) -> UInt32 {
        let seconds = (deadline - now).rounded(.up)
        guard seconds.isFinite else { return seconds > 0 ? UInt32.max : 1 }
        return UInt32(max(1, min(Double(UInt32.max), seconds)))
    }
}
