import FedMQCore
import FedMQProtocol
import Foundation

/// A tiny model and helpers shared by the protocol tests.
enum Fixture {
    static let job = "job1"
    static let spec = ModelSpec(kind: .softmaxRegression, inputs: 3, outputs: 2)
    static let initial = try! spec.initialParameters(seed: 0)
    static let policy = RoundPolicy(
        rounds: 3, targetUpdates: 3, minUpdates: 2, roundSeconds: 60, extensionSeconds: 30, maxUpdateBytes: 4096,
        normBound: 10, training: TrainingConfig(learningRate: 0.1, batchSize: 4, epochs: 1))

    static func machine(now: Double = 1000, policy: RoundPolicy = policy) -> AggregatorStateMachine {
        try! AggregatorStateMachine(job: job, policy: policy, spec: spec, initial: initial, now: now)
    }

    /// A delta with every value `value`.
    static func delta(_ value: Float) -> Parameters {
        try! Parameters(initial.tensors.map { try Tensor(name: $0.name, shape: $0.shape, values: .init(repeating: value, count: $0.count)) })
    }

    static func update(
        _ machine: AggregatorStateMachine, agent: String, value: Float = 0.1, examples: Int = 10, round: Int? = nil,
        base: String? = nil, job: String = job, encoding: TensorEncoding = .float32
    ) -> [UInt8] {
        ModelCodec.encodeUpdate(
            delta(value), encoding: encoding, job: job, round: round ?? machine.announcement.round, agent: agent,
            baseSHA256: base ?? machine.model.sha256, examples: examples)
    }
}

extension [AggregatorAction] {
    var rejections: [RejectionReason] {
        compactMap { if case .rejected(let rejection) = $0 { rejection.reason } else { nil } }
    }
    var metrics: RoundMetrics? {
        compactMap { if case .publishMetrics(let metrics) = $0 { metrics } else { nil } }.first
    }
    var spooled: Int { filter { if case .spool = $0 { true } else { false } }.count }
}

/// A CSV file, parsed (FedMQCore parses; reading files is the runtimes' job).
func readCSV(_ path: String, options: CSVOptions = .init()) throws -> Dataset {
    try CSVReader.parse(String(contentsOfFile: path, encoding: .utf8), file: path, options: options)
}
