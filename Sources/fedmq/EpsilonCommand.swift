import ArgumentParser
import FedMQCore
import Foundation

/// `fedmq epsilon`: what a Gaussian mechanism run on Poisson samples costs, by both
/// accountants, so that an operator sees how much tighter the PLD figure is before choosing noise.
struct EpsilonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "epsilon",
        abstract: "Epsilon of T runs of the (Poisson-subsampled) Gaussian mechanism, by the RDP and the PLD accountant.",
        discussion: """
            Example: fedmq epsilon --noise-multiplier 1.1 --sampling-probability 0.001 --steps 1000
            DP-SGD with batch b of n records samples q = b/n; client-level DP without sampling is q = 1 (then the
            PLD figure is exact). Prints both epsilons at --delta and their ratio.
            """
    )

    @Option(name: .customLong("noise-multiplier"), help: "z: noise std over sensitivity.") var noiseMultiplier: Double
    @Option(name: .customLong("sampling-probability"), help: "q: each record (or client) is in a run with this probability.")
    var samplingProbability = 1.0
    @Option(help: "T: how many times the mechanism runs.") var steps: Int
    @Option(help: "The delta of the (epsilon, delta) guarantee.") var delta = 1e-5

    func validate() throws {
        guard noiseMultiplier > 0, noiseMultiplier.isFinite, (0...1).contains(samplingProbability), samplingProbability > 0 else {
            throw ValidationError("--noise-multiplier must be positive and --sampling-probability within 0 (exclusive) and 1")
        }
        guard (1...1_000_000).contains(steps), delta > 0, delta < 1 else {
            throw ValidationError("--steps must be within 1...1000000 and --delta within 0 and 1 (exclusive)")
        }
    }

    func run() throws {
        let event =
            samplingProbability >= 1
            ? DPEvent.gaussian(noiseMultiplier: noiseMultiplier)
            : .poissonSampled(probability: samplingProbability, event: .gaussian(noiseMultiplier: noiseMultiplier))
        var accountant = RDPAccountant()
        try accountant.compose(event, count: steps)
        let (rdp, order) = accountant.epsilon(delta: delta)
        let pld = try PLDAccountant.epsilon(samplingProbability: samplingProbability, noiseMultiplier: noiseMultiplier, steps: steps, delta: delta)
        print(String(format: "RDP: epsilon %.6g (order %g)", rdp, order))
        print(String(format: "PLD: epsilon %.6g%@", pld, samplingProbability >= 1 ? " (exact)" : ""))
        print(String(format: "RDP / PLD: %.3g", rdp / pld))
    }
}
