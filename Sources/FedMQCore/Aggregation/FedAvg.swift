/// Federated averaging: new global = global + Σ w_k · delta_k / Σ w_k, with w_k the example
/// count of update k (McMahan et al. 2017) or 1 for the plain mean. Streaming: it keeps one
/// running sum the size of the model.
public struct FedAvg: AggregationStrategy, Equatable {
    /// How each delta counts in the mean.
    public enum Weighting: String, Codable, Sendable {
        case examples
        case uniform
    }

    public let weighting: Weighting
    private var global: Parameters?
    private var sum: Parameters?
    private var totalWeight = 0.0

    /// A mean weighted by `weighting`.
    public init(weighting: Weighting = .examples) {
        self.weighting = weighting
    }

    /// Starts a round on the current global model.
    public mutating func begin(global: Parameters) {
        self.global = global
        sum = global.zeros()
        totalWeight = 0
    }

    /// Folds one agent's delta into the running weighted sum.
    public mutating func add(delta: Parameters, examples: Int) throws(CoreError) {
        guard var running = sum else { throw .invalidTraining("FedAvg.add called before begin") }
        guard examples > 0 else { throw .invalidTraining("an update must carry a positive example count") }
        let weight = weighting == .examples ? Double(examples) : 1
        sum = nil  // keep the running sum uniquely referenced, so axpy works in place
        try running.axpy(Float(weight), delta)
        sum = running
        totalWeight += weight
    }

    /// The round so far as a partial aggregate: the weighted mean of the deltas added and the
    /// total weight behind it. A parent that adds partials with their weight as the example
    /// count (`weighting: .examples`) gets the mean over every delta of every child.
    public func partial() throws(CoreError) -> (meanDelta: Parameters, weight: Int) {
        guard let global, let running = sum else { throw .invalidTraining("FedAvg.partial called before begin") }
        guard totalWeight > 0 else { throw .invalidTraining("no update to aggregate") }
        var mean = global.zeros()
        try mean.axpy(Float(1 / totalWeight), running)
        return (mean, Int(totalWeight))
    }

    /// The new global model: the old one plus the weighted mean of the deltas.
    public mutating func finish() throws(CoreError) -> Parameters {
        guard var model = global, let running = sum else { throw .invalidTraining("FedAvg.finish called before begin") }
        guard totalWeight > 0 else { throw .invalidTraining("no update to aggregate") }
        try model.axpy(Float(1 / totalWeight), running)
        return model
    }
}
