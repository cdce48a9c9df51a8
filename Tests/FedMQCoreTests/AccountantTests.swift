import FedMQCore
import Foundation
import Testing

/// The reference vectors (dp-accounting 0.6.0, Opacus 1.6.0): the committed fixture, or the
/// file named by FEDMQ_DP_VECTORS (same schema, other cases).
struct DPVectors {
    struct Case {
        var id: String
        var kind: String
        var inputs: [String: Any]
        var expected: [String: Any]
        var flags: [String]
    }

    let cases: [Case]

    static func load() throws -> DPVectors {
        let path = ProcessInfo.processInfo.environment["FEDMQ_DP_VECTORS"] ?? fixture("dp_vectors_public.json")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        let cases = try #require(root["cases"] as? [[String: Any]]).map { item in
            Case(
                id: item["id"] as? String ?? "?", kind: item["kind"] as? String ?? "?", inputs: item["inputs"] as? [String: Any] ?? [:],
                expected: item["expected"] as? [String: Any] ?? [:], flags: item["flags"] as? [String] ?? [])
        }
        return DPVectors(cases: cases)
    }
}

extension DPVectors.Case {
    func input(_ key: String) -> Double { (inputs[key] as? NSNumber)?.doubleValue ?? .nan }
    func value(_ key: String) -> Double? { (expected[key] as? NSNumber)?.doubleValue }

    var event: DPEvent {
        let q = input("sampling_probability")
        let gaussian = DPEvent.gaussian(noiseMultiplier: input("noise_multiplier"))
        return q >= 1 ? gaussian : .poissonSampled(probability: q, event: gaussian)
    }
}

@Suite("Rényi DP accountant against dp-accounting's reference vectors")
struct AccountantTests {
    let vectors = try! DPVectors.load()

    @Test("composed Gaussian and Poisson-subsampled Gaussian: epsilon to 1e-6 relative, same optimal order")
    func epsilons() throws {
        let cases = vectors.cases.filter { ["gaussian_composed", "poisson_subsampled_gaussian"].contains($0.kind) }
        #expect(cases.count >= 32)
        for item in cases {
            var accountant = RDPAccountant()
            try accountant.compose(item.event, count: Int(item.input("steps")))
            let (epsilon, order) = accountant.epsilon(delta: item.input("delta"))
            // Where dp-accounting's absolute-value series loosens the bound, FedMQ reports the
            // exact (sign-aware) RDP epsilon, as the vectors' README allows.
            let signed = item.flags.contains("abs_sum_fractional_series_changes_epsilon")
            let expected = try #require(item.value(signed ? "rdp_epsilon_signed_series" : "rdp_epsilon"), "\(item.id)")
            let expectedOrder = try #require(item.value(signed ? "rdp_optimal_order_signed_series" : "rdp_optimal_order"))
            #expect(abs(epsilon - expected) <= 1e-6 * expected, "\(item.id): \(epsilon) vs \(expected)")
            #expect(order == expectedOrder, "\(item.id): order \(order) vs \(expectedOrder)")
            if let exact = item.value("exact_epsilon_analytic_gaussian") {
                #expect(epsilon >= exact * (1 - 1e-9), "\(item.id): below the exact epsilon")
            }
            if let pld = item.value("pld_epsilon") { #expect(epsilon >= pld * (1 - 1e-3), "\(item.id): below the PLD epsilon") }
        }
    }

    @Test("composed Gaussians: the exact epsilon matches dp-accounting's PLD to 1e-3 and the analytic reference to 1e-6, below RDP")
    func exactGaussian() throws {
        let cases = vectors.cases.filter { $0.kind == "gaussian_composed" }
        #expect(cases.count >= 16)
        for item in cases {
            var accountant = RDPAccountant()
            try accountant.compose(item.event, count: Int(item.input("steps")))
            let exact = try #require(accountant.exactEpsilon(delta: item.input("delta")), "\(item.id)")
            let pld = try #require(item.value("pld_epsilon"))
            let analytic = try #require(item.value("exact_epsilon_analytic_gaussian"))
            #expect(abs(exact - pld) <= 1e-3 * pld, "\(item.id): \(exact) vs PLD \(pld)")
            #expect(abs(exact - analytic) <= 1e-6 * analytic, "\(item.id): \(exact) vs analytic \(analytic)")
            #expect(exact <= accountant.epsilon(delta: item.input("delta")).epsilon)
        }
        // A Poisson-sampled event has no exact Gaussian form here: only RDP's bound is known.
        var sampled = RDPAccountant()
        try sampled.compose(.gaussian(noiseMultiplier: 1))
        try sampled.compose(.poissonSampled(probability: 0.01, event: .gaussian(noiseMultiplier: 1)), count: 10)
        #expect(sampled.exactEpsilon(delta: 1e-5) == nil)
    }

    @Test("per-order RDP matches the exact reference")
    func perOrder() throws {
        for item in vectors.cases where item.kind == "rdp_per_order" {
            let orders = try #require(item.expected["orders"] as? [Double])
            #expect(orders == RDPAccountant.defaultOrders)
            let reference = try #require(item.expected["rdp_per_step_reference"] as? [Double])
            var accountant = RDPAccountant()
            try accountant.compose(item.event)
            for (ours, theirs) in zip(accountant.rdp, reference) {
                #expect(abs(ours - theirs) <= 1e-6 * abs(theirs) + 1e-15, "\(item.id)")
            }
            var total = RDPAccountant()
            try total.compose(item.event, count: Int(item.input("steps")))
            let (epsilon, order) = total.epsilon(delta: item.input("delta"))
            #expect(abs(epsilon - (item.value("rdp_epsilon_reference") ?? .nan)) <= 1e-6 * epsilon)
            #expect(order == item.value("rdp_optimal_order_reference"))
        }
    }

    @Test("the inverse finds the smallest noise multiplier within 1e-4")
    func calibration() throws {
        let cases = vectors.cases.filter { $0.kind == "calibrate_noise_multiplier" }
        #expect(!cases.isEmpty)
        for item in cases {
            let target = item.input("target_epsilon")
            let z = try RDPAccountant.noiseMultiplier(
                targetEpsilon: target, delta: item.input("delta"), samplingProbability: item.input("sampling_probability"),
                steps: Int(item.input("steps")))
            #expect(abs(z - (item.value("noise_multiplier_precise") ?? .nan)) <= 1e-4, "\(item.id): \(z)")
            var check = RDPAccountant()
            try check.compose(item.event(z: z), count: Int(item.input("steps")))
            #expect(check.epsilon(delta: item.input("delta")).epsilon <= target)
        }
    }

    @Test("composition of mixed events adds RDP; delta 0 and no noise are infinite")
    func composition() throws {
        var mixed = RDPAccountant()
        try mixed.compose(.composed([.gaussian(noiseMultiplier: 1), .selfComposed(event: .gaussian(noiseMultiplier: 2), count: 4)]))
        var separate = RDPAccountant()
        try separate.compose(.gaussian(noiseMultiplier: 1))
        try separate.compose(.gaussian(noiseMultiplier: 2), count: 4)
        #expect(mixed.rdp == separate.rdp)
        #expect(mixed.epsilon(delta: 0).epsilon == .infinity)
        #expect(RDPAccountant().epsilon(delta: 1e-5).epsilon == 0)
        var noNoise = RDPAccountant()
        try noNoise.compose(.gaussian(noiseMultiplier: 0))
        #expect(noNoise.epsilon(delta: 1e-5).epsilon == .infinity)
        #expect(throws: CoreError.self) { try noNoise.compose(.poissonSampled(probability: 2, event: .gaussian(noiseMultiplier: 1))) }
    }
}

extension DPVectors.Case {
    func event(z: Double) -> DPEvent {
        .poissonSampled(probability: input("sampling_probability"), event: .gaussian(noiseMultiplier: z))
    }
}
