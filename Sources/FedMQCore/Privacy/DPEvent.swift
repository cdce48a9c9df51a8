/// A differentially private mechanism run, as dp-accounting describes them: events go into
/// an accountant, which answers epsilon for a delta.
public indirect enum DPEvent: Sendable, Equatable, Codable {
    /// The Gaussian mechanism with noise std = `noiseMultiplier` × sensitivity.
    case gaussian(noiseMultiplier: Double)
    /// `event` run on a Poisson sample: each record (or client) takes part with probability q.
    case poissonSampled(probability: Double, event: DPEvent)
    /// `event` run `count` times.
    case selfComposed(event: DPEvent, count: Int)
    /// Each of `events` once.
    case composed([DPEvent])
}
