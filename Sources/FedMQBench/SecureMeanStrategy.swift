import FedMQCommandLine
import FedMQCore
import FedMQProtocol

/// The plain mean of a round's deltas, computed the way a secure-aggregation job computes it:
/// each delta clipped (with privacy), quantized, given its discrete Gaussian noise (with
/// privacy), masked by its agent's state machine, and only the sum unmasked and decoded.
struct SecureMeanStrategy: AggregationStrategy {
    let settings: SecureAggregationSettings
    let privacy: ClientPrivacy?
    private var global: Parameters?
    private var inputs: [[UInt32]] = []
    private var random: SplitMix64

    init(settings: SecureAggregationSettings, privacy: ClientPrivacy?, seed: UInt64) {
        self.settings = settings
        self.privacy = privacy
        random = SplitMix64(seed: seed)
    }

    mutating func begin(global: Parameters) {
        self.global = global
        inputs = []
    }

    mutating func add(delta: Parameters, examples: Int) throws(CoreError) {
        var clipped = delta
        if let privacy { clipped.clip(norm: privacy.clipNorm) }
        var words = settings.quantization.encode(clipped, using: &random)
        if let privacy { try SecAggNoise.add(to: &words, privacy, settings, using: &random) }
        inputs.append(words)
    }

    mutating func finish() throws(CoreError) -> Parameters {
        guard var global, !inputs.isEmpty else { throw .invalidModel("no update in the round") }
        let named = Dictionary(uniqueKeysWithValues: inputs.enumerated().map { ("agent-\($0.offset)", $0.element) })
        do {
            let sum = try SecAggSimulation.sum(named, dropout: settings.dropoutRate, corruption: settings.corruptionRate, using: &random)
            try global.add(try settings.quantization.decodeMean(sum, count: inputs.count, like: global))
        } catch let error as CoreError {
            throw error
        } catch {
            throw .invalidModel("secure aggregation: \(error)")
        }
        return global
    }
}
