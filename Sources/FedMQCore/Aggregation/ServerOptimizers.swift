import FoundationEssentials

/// Adaptive server optimizers (Reddi et al. 2021, "Adaptive Federated Optimization"): the
/// mean of the deltas (weighted by examples, or uniform as the job says) is a pseudo-gradient Δ, and the server steps with
/// momentum or an adaptive per-coordinate rate. Their state (m, v) lives across rounds.
///
/// - FedAvgM: m = β₁·m + Δ; x += η·m.
/// - FedAdagrad: m = β₁·m + (1 − β₁)·Δ; v = v + Δ²; x += η·m / (√v + τ).
/// - FedAdam: m as above; v = β₂·v + (1 − β₂)·Δ²; x += η·m / (√v + τ).
/// - FedYogi: m as above; v = v − (1 − β₂)·Δ²·sign(v − Δ²); x += η·m / (√v + τ).
///
/// As in the paper's Algorithm 2, there is no bias correction.
public struct ServerOptimizer: AggregationStrategy {
    /// The server optimizer applied to the mean delta.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case fedAvgM = "fedavgm"
        case fedAdagrad = "fedadagrad"
        case fedAdam = "fedadam"
        case fedYogi = "fedyogi"
    }

    public let kind: Kind
    public let learningRate: Double
    public let beta1: Double
    public let beta2: Double
    public let tau: Double
    private var mean: FedAvg
    private var global: Parameters?
    private var m: [Float] = []
    private var v: [Float] = []

    /// Defaults are the paper's: η = 0.1 (1.0 for FedAvgM), β₁ = 0.9, β₂ = 0.99, τ = 1e-3;
    /// v starts at τ² for the adaptive ones.
    public init(
        kind: Kind, learningRate: Double? = nil, beta1: Double = 0.9, beta2: Double = 0.99, tau: Double = 1e-3,
        weighting: FedAvg.Weighting = .examples
    ) {
        self.kind = kind
        mean = FedAvg(weighting: weighting)
        self.learningRate = learningRate ?? (kind == .fedAvgM ? 1.0 : 0.1)
        self.beta1 = beta1
        self.beta2 = beta2
        self.tau = tau
    }

    /// Starts a round on the current global model.
    public mutating func begin(global: Parameters) {
        self.global = global
        mean.begin(global: global.zeros())
    }

    /// Folds one agent's delta into the round's mean.
    public mutating func add(delta: Parameters, examples: Int) throws(CoreError) {
        try mean.add(delta: delta, examples: examples)
    }

    /// The new global model: one optimizer step along the mean delta.
    public mutating func finish() throws(CoreError) -> Parameters {
        guard var model = global else { throw .invalidTraining("finish called before begin") }
        let pseudoGradient = try mean.finish().tensors.flatMap(\.values)
        if m.count != pseudoGradient.count {
            m = [Float](repeating: 0, count: pseudoGradient.count)
            v = [Float](repeating: Float(tau * tau), count: pseudoGradient.count)
        }
        let (b1, b2, eta, t) = (Float(beta1), Float(beta2), Float(learningRate), Float(tau))
        var step = [Float](repeating: 0, count: pseudoGradient.count)
        for k in pseudoGradient.indices {
            let g = pseudoGradient[k]
            switch kind {
            case .fedAvgM:
                m[k] = b1 * m[k] + g
                step[k] = eta * m[k]
            case .fedAdagrad, .fedAdam, .fedYogi:
                m[k] = b1 * m[k] + (1 - b1) * g
                let g2 = g * g
                switch kind {
                case .fedAdagrad: v[k] = v[k] + g2
                case .fedAdam: v[k] = b2 * v[k] + (1 - b2) * g2
                default: v[k] = v[k] - (1 - b2) * g2 * (v[k] - g2 > 0 ? 1 : (v[k] - g2 < 0 ? -1 : 0))
                }
                step[k] = eta * m[k] / (v[k].squareRoot() + t)
            }
        }
        var offset = 0
        for index in model.tensors.indices {
            model.withValues(at: index) { values in
                for i in values.indices { values[i] += step[offset + i] }
                offset += values.count
            }
        }
        return model
    }

    /// The first and second moments, so a restarted aggregator continues the same optimizer.
    public var carriedState: [String: [Float]]? { m.isEmpty ? nil : ["m": m, "v": v] }

    /// Takes back the optimizer's moments from a checkpoint.
    public mutating func restore(carriedState: [String: [Float]]) {
        guard let m = carriedState["m"], let v = carriedState["v"], m.count == v.count else { return }
        self.m = m
        self.v = v
    }
}
