/// Which aggregation strategy a job uses, as written in the aggregator's config:
/// `{"name": "trimmed_mean", "beta": 0.2}`, `{"name": "krum", "f": 2}`, `{"name": "fedadam", "learning_rate": 0.1}` ...
public struct StrategyConfig: Codable, Sendable, Equatable {
    public var name: String
    /// trimmed_mean: fraction dropped at each end.
    public var beta: Double?
    /// krum, multi_krum, bulyan: the number of Byzantine updates tolerated.
    public var f: Int?
    /// multi_krum: how many updates are averaged.
    public var m: Int?
    /// Server optimizers.
    public var learningRate: Double?
    public var beta1: Double?
    public var beta2: Double?
    public var tau: Double?

    public static let names =
        ["fedavg", "mean", "median", "trimmed_mean", "krum", "multi_krum", "bulyan"] + ServerOptimizer.Kind.allCases.map(\.rawValue)

    /// A strategy by name with the parameters it takes (see `validate`).
    public init(name: String, beta: Double? = nil, f: Int? = nil, m: Int? = nil, learningRate: Double? = nil) {
        self.name = name
        self.beta = beta
        self.f = f
        self.m = m
        self.learningRate = learningRate
    }

    enum CodingKeys: String, CodingKey {
        case name, beta, f, m, tau
        case learningRate = "learning_rate"
        case beta1 = "beta_1"
        case beta2 = "beta_2"
    }

    /// The fewest updates the strategy can aggregate (Krum needs f + 3, Bulyan 4f + 3).
    public func minimumUpdates() throws(CoreError) -> Int {
        (try make() as? BufferedRobustStrategy)?.minimumUpdates ?? 1
    }

    /// The strategy; throws for an unknown name or a missing parameter. Server optimizers take
    /// their pseudo-gradient as the mean with the job's `weighting`.
    public func make(weighting: FedAvg.Weighting = .examples) throws(CoreError) -> any AggregationStrategy {
        func need<T>(_ value: T?, _ field: String) throws(CoreError) -> T {
            guard let value else { throw .invalidTraining("strategy '\(name)' needs '\(field)'") }
            return value
        }
        switch name {
        case "fedavg": return FedAvg(weighting: .examples)
        case "mean": return FedAvg(weighting: .uniform)
        case "median": return BufferedRobustStrategy(rule: .median)
        case "trimmed_mean": return BufferedRobustStrategy(rule: .trimmedMean(beta: try need(beta, "beta")))
        case "krum": return BufferedRobustStrategy(rule: .krum(f: try need(f, "f")))
        case "multi_krum": return BufferedRobustStrategy(rule: .multiKrum(f: try need(f, "f"), m: try need(m, "m")))
        case "bulyan": return BufferedRobustStrategy(rule: .bulyan(f: try need(f, "f")))
        default:
            guard let kind = ServerOptimizer.Kind(rawValue: name) else {
                throw .invalidTraining("unknown strategy '\(name)'; known: \(Self.names.joined(separator: ", "))")
            }
            return ServerOptimizer(
                kind: kind, learningRate: learningRate, beta1: beta1 ?? 0.9, beta2: beta2 ?? 0.99, tau: tau ?? 1e-3, weighting: weighting)
        }
    }
}
