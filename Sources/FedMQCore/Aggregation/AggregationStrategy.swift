/// How a round's accepted updates become the next global model.
///
/// The round state machine calls `begin` when a round opens, `add` for each accepted delta
/// (local model minus global model) as it arrives, and `finish` when the round closes.
/// Streaming strategies fold updates in O(model) memory; robust ones (median, Krum) may keep
/// the deltas and do their work in `finish`. The state machine does not change either way.
public protocol AggregationStrategy: Sendable {
    mutating func begin(global: Parameters)
    mutating func add(delta: Parameters, examples: Int) throws(CoreError)
    /// The new global model; throws if no update was added.
    mutating func finish() throws(CoreError) -> Parameters
    /// State carried from round to round (a server optimizer's moments), to checkpoint; nil
    /// for strategies that start every round afresh.
    var carriedState: [String: [Float]]? { get }
    /// Puts back state saved from `carriedState`.
    mutating func restore(carriedState: [String: [Float]])
}

extension AggregationStrategy {
    public var carriedState: [String: [Float]]? { nil }
    /// Strategies without state across rounds have nothing to restore.
    public mutating func restore(carriedState: [String: [Float]]) {}
}
