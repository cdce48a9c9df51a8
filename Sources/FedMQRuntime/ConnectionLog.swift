import FedMQTransport
import Logging

/// Logs a client's connection events and names the pattern an operator must act on: two
/// clients with one client id (a second process, or a cloned SD card) take the session from
/// each other without end. Mosquitto 2.0 closes the older connection without telling it why,
/// so each side sees only "connection lost", again and again, right after connecting.
public struct ConnectionLog: Sendable {
    let clientID: String
    let logger: Logger
    /// Connections lost within this many seconds of being made count as taken over.
    static let quickDropSeconds = 5.0
    private var connectedAt: Double?
    private var quickDrops = 0

    /// A log of `clientID`'s connection events.
    public init(clientID: String, logger: Logger) {
        self.clientID = clientID
        self.logger = logger
    }

    /// Logs one event, naming a takeover or a storm of quick drops.
    public mutating func record(_ event: ConnectionEvent, now: Double) {
        logger.notice("broker: \(event)")
        switch event {
        case .connected:
            connectedAt = now
        case .disconnected(.broker(.sessionTakenOver)):
            quickDrops += 1
            warnTakeover(certain: true)
        case .disconnected(.connectionLost):
            if let connectedAt, now - connectedAt < Self.quickDropSeconds {
                quickDrops += 1
                // The third quick drop in a row, then every tenth: a pattern, not a hiccup.
                if quickDrops == 3 || quickDrops % 10 == 0 { warnTakeover(certain: false) }
            } else {
                quickDrops = 0
            }
            connectedAt = nil
        default:
            break
        }
    }

    private func warnTakeover(certain: Bool) {
        let cause =
            certain
            ? "another client connected with this client id '\(clientID)' and took over its session"
            : "the broker dropped client '\(clientID)' \(quickDrops) times right after it connected: another client with the same id is probably taking over its session (the broker logs 'already connected, closing old connection')"
        logger.warning("\(cause); two processes or devices share one identity: stop one of them")
    }
}
