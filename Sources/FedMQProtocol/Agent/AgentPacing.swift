/// The device owner's limits on how often this agent trains and publishes: a battery-powered
/// or metered device in an asynchronous job would otherwise train after every new version.
/// Times are the agent's publish times (seconds since 1970), kept by its runtime across restarts.
public struct AgentPacing: Sendable, Equatable {
    /// Least time between two updates.
    public var minIntervalSeconds: Double
    /// Most updates in any hour, and in any 24 hours; nil: no limit.
    public var maxPerHour: Int?
    public var maxPerDay: Int?
    /// Publish times within the last day, oldest first: only as many as the limits look at (the
    /// last one for the interval, the last `max_updates_per_*` for a window), so an agent that
    /// publishes every few seconds does not keep and rewrite a day of them each round.
    public private(set) var recent: [Double]

    static let hour = 3600.0
    static let day = 24 * 3600.0

    /// Limits of the owner's config, with the publish times of the last day.
    public init(minIntervalSeconds: Double = 0, maxPerHour: Int? = nil, maxPerDay: Int? = nil, recent: [Double] = []) {
        self.minIntervalSeconds = minIntervalSeconds
        self.maxPerHour = maxPerHour
        self.maxPerDay = maxPerDay
        self.recent = Array(recent.sorted().suffix(Self.kept(maxPerHour, maxPerDay)))
    }

    /// How many of the latest publish times the limits need.
    private static func kept(_ maxPerHour: Int?, _ maxPerDay: Int?) -> Int {
        max(1, maxPerHour ?? 0, maxPerDay ?? 0)
    }

    /// Refuses limits that are negative, not finite, or below one update.
    public func validate() throws(ProtocolError) {
        guard minIntervalSeconds >= 0, minIntervalSeconds <= Self.day * 366 else {
            throw .invalidConfiguration("min_update_interval_seconds must be within 0...\(Int(Self.day * 366))")
        }
        if let maxPerHour, maxPerHour < 1 { throw .invalidConfiguration("max_updates_per_hour must be at least 1") }
        if let maxPerDay, maxPerDay < 1 { throw .invalidConfiguration("max_updates_per_day must be at least 1") }
    }

    /// When the next update may start; nil when it may start now.
    public func nextAllowed(now: Double) -> Double? {
        var earliest = (recent.last ?? -.infinity) + minIntervalSeconds
        for (limit, window) in [(maxPerHour, Self.hour), (maxPerDay, Self.day)] {
            guard let limit else { continue }
            let inWindow = recent.filter { $0 > now - window }
            // The oldest update in the window that must age out before one more fits.
            if inWindow.count >= limit { earliest = max(earliest, inWindow[inWindow.count - limit] + window) }
        }
        return earliest > now ? earliest : nil
    }

    /// An update was published at `now`.
    public mutating func record(_ now: Double) {
        recent.append(now)
        recent.removeAll { $0 <= now - Self.day }
        recent.removeFirst(max(0, recent.count - Self.kept(maxPerHour, maxPerDay)))
    }
}
