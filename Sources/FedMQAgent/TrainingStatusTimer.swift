import FedMQProtocol
import FedMQRuntime
import Synchronization

/// Holds a round's `training` status back until training has lasted
/// `training_status_after_seconds`: a round that trains faster publishes its update and its
/// `idle` status only, one message in three fewer for the broker and the aggregator. The held
/// status is published from the event loop, in order with the update, so a late one can never
/// overwrite the `idle` status that follows training.
///
/// One task waits for every round's deadline. Arming it for a new round only replaces the
/// round and deadline it will look at when it wakes, so quick rounds cost no task, timer or
/// wake-up of their own: the task wakes about once per delay and, if the round it finds armed
/// has not reached its deadline yet, sleeps again until it has. Deadlines follow `clock.now()`;
/// were the clock set back, a status could come out later than its delay, never early.
final class TrainingStatusTimer: Sendable {
    let delay: Double
    /// The round to publish a `training` status for, and when; shared with the waiting task.
    private final class Armed: Sendable {
        let target = Mutex<(round: Int, deadline: Double)?>(nil)
    }
    private let armed = Armed()
    private let wake: AsyncStream<Void>.Continuation
    private let waiter: Task<Void, Never>?

    /// `due` is called once a round armed with `holdBack` has trained for `delay` (the caller
    /// then asks the state machine whether that round still trains).
    init(delay: Double, clock: any RuntimeClock, due: @escaping @Sendable (Int) -> Void) {
        self.delay = delay
        let (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.wake = wake
        guard delay > 0 else {
            waiter = nil
            return
        }
        waiter = Task { [armed] in
            var wakeUps = wakes.makeAsyncIterator()
            while !Task.isCancelled {
                guard let target = armed.target.withLock({ $0 }) else {
                    // Nothing armed: wait for `holdBack` to arm a round.
                    guard await wakeUps.next() != nil else { return }
                    continue
                }
                do {
                    try await clock.sleep(until: target.deadline)
                } catch {
                    return
                }
                let reached = armed.target.withLock { current in
                    guard let armedNow = current, armedNow == target else { return false }
                    current = nil
                    return true
                }
                if reached { due(target.round) }
            }
        }
    }

    /// `actions` without the `training` statuses to hold back; the round in training is armed.
    func holdBack(_ actions: [AgentAction], trainingRound: Int?, now: Double) -> [AgentAction] {
        func isTrainingStatus(_ action: AgentAction) -> Bool {
            if case .publishStatus(let status) = action { status.state == .training } else { false }
        }
        guard delay > 0, actions.contains(where: isTrainingStatus) else { return actions }
        if let round = trainingRound {
            armed.target.withLock { $0 = (round, now + delay) }
            wake.yield()
        }
        return actions.filter { !isTrainingStatus($0) }
    }

    /// Stops the timer (the agent is shutting down).
    func cancel() {
        waiter?.cancel()
        wake.finish()
    }
}
