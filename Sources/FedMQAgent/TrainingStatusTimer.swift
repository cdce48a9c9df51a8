import FedMQProtocol
import FedMQRuntime

/// Holds a round's `training` status back until training has lasted
/// `training_status_after_seconds`: a round that trains faster publishes its update and its
/// `idle` status only, one message in three fewer for the broker and the aggregator. The held
/// status is published from the event loop, in order with the update, so a late one can never
/// overwrite the `idle` status that follows training.
struct TrainingStatusTimer {
    let delay: Double
    let clock: any RuntimeClock
    private var pending: Task<Void, Never>?

    init(delay: Double, clock: any RuntimeClock) {
        self.delay = delay
        self.clock = clock
    }

    /// `actions` without the `training` statuses to hold back; for the round in training, `due`
    /// is called once the delay has passed (the caller then asks the state machine whether that
    /// round still trains).
    mutating func holdBack(
        _ actions: [AgentAction], trainingRound: Int?, now: Double, due: @escaping @Sendable (Int) -> Void
    ) -> [AgentAction] {
        func isTrainingStatus(_ action: AgentAction) -> Bool {
            if case .publishStatus(let status) = action { status.state == .training } else { false }
        }
        guard delay > 0, actions.contains(where: isTrainingStatus) else { return actions }
        if let round = trainingRound {
            pending?.cancel()
            pending = Task { [clock, delay] in
                do {
                    try await clock.sleep(until: now + delay)
                } catch {
                    return
                }
                due(round)
            }
        }
        return actions.filter { !isTrainingStatus($0) }
    }

    /// Stops the timer (the agent is shutting down).
    mutating func cancel() {
        pending?.cancel()
        pending = nil
    }
}
