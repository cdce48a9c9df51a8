import FedMQCore

/// What an agent's owner allows it to spend on one job.
public struct PrivacyBudget: Codable, Sendable, Equatable {
    public var epsilon: Double
    public var delta: Double

    /// At most `epsilon` spent, at `delta`.
    public init(epsilon: Double, delta: Double) {
        self.epsilon = epsilon
        self.delta = delta
    }
}

/// How an agent charges its rounds.
public enum PrivacyLedger {
    /// The mechanism one round runs, as seen by the agent: in local and distributed mode its own
    /// noise protects the update from whoever sees it (multiplier z or z/√m); in central mode
    /// the agent relies on the aggregator's noise (multiplier z on the published model).
    public static func event(for privacy: ClientPrivacy) -> DPEvent {
        .gaussian(noiseMultiplier: privacy.perUpdateMultiplier ?? privacy.noiseMultiplier)
    }

    /// Everything one round of `announcement` runs on the device's data: DP-SGD during
    /// training and the client-level noise on the update. Charging both to one record-level
    /// ledger is sound: a client-level guarantee protects each record at least as well.
    public static func events(for announcement: RoundAnnouncement) -> [DPEvent] {
        var events: [DPEvent] = []
        if let dpSGD = announcement.training.dpSGD { events.append(dpSGD.event(epochs: announcement.training.epochs)) }
        if let privacy = announcement.privacy { events.append(event(for: privacy)) }
        return events
    }

    /// `ledger` with one more round's `event` charged. A round that runs what the last entry
    /// ran extends it as `selfComposed` (the RDP accountant counts n-fold composition as n
    /// times the event), so the ledger, its budget check each round and the agent's state grow
    /// with the mechanisms a job ran, not with its rounds.
    public static func charging(_ event: DPEvent, to ledger: [DPEvent]) -> [DPEvent] {
        var charged = ledger
        switch charged.last {
        case .selfComposed(let inner, let count) where inner == event && count >= 1:
            charged[charged.count - 1] = .selfComposed(event: event, count: count + 1)
        case let last? where last == event:
            charged[charged.count - 1] = .selfComposed(event: event, count: 2)
        default:
            charged.append(event)
        }
        return charged
    }

    /// Epsilon at `delta` of everything in `ledger`, by the RDP accountant.
    public static func epsilon(of ledger: [DPEvent], delta: Double) -> Double {
        var accountant = RDPAccountant()
        guard (try? accountant.compose(.composed(ledger))) != nil else { return .infinity }
        return accountant.epsilon(delta: delta).epsilon
    }
}
