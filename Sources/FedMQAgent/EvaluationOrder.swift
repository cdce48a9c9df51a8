/// Orders an agent's local work so that the evaluation of a round's base model is reported
/// before that round's update: training waits for the evaluation started before it. Otherwise
/// the update could close the round first, and the aggregator would drop the late evaluation
/// as one of an older model (it did, on a loaded machine).
actor EvaluationOrder {
    private var pending: Task<Void, Never>?

    /// Runs `work` off the agent's loop, after any evaluation started earlier.
    func evaluate(_ work: @escaping @Sendable () -> Void) {
        let previous = pending
        pending = Task.detached {
            await previous?.value
            work()
        }
    }

    /// Returns once every evaluation started so far has reported.
    func finished() async {
        await pending?.value
    }
}
