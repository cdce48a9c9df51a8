import CFuzzerDriver
import FedMQAgent
import FedMQAggregator
import FedMQCore
import FedMQHomomorphic
import FedMQProtocol
import Foundation

/// The executable's entry point (SwiftPM aliases `main` to it): hands control to libFuzzer.
@_cdecl("FuzzDecoders_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    _ = Decoder.selected
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in
        // One input to the decoder named by `FUZZ_DECODER`. Decoders may refuse any input
        // (they throw); they must never crash, hang or read out of bounds.
        Decoder.selected.decode(Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }
}

enum Decoder: String, CaseIterable {
    case safetensors, model, update, round
    case agentStatus = "agent-status"
    case aggregatorStatus = "aggregator-status"
    case metrics, evaluation
    case enrolment, checkpoint, csv
    case modelSpec = "model-spec"
    case agentConfig = "agent-config"
    case aggregatorConfig = "aggregator-config"
    case secagg
    case agentRound = "agent-round"
    case homomorphic

    static let selected: Decoder = {
        let name = ProcessInfo.processInfo.environment["FUZZ_DECODER"] ?? ""
        guard let decoder = Decoder(rawValue: name) else {
            FileHandle.standardError.write(Data("set FUZZ_DECODER to one of: \(allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
            exit(2)
        }
        return decoder
    }()

    func decode(_ bytes: [UInt8]) {
        let json = JSONDecoder()
        switch self {
        case .safetensors: _ = try? SafetensorsDecoder.decode(bytes)
        case .model: _ = try? ModelCodec.decodeModel(bytes)
        case .update:
            // The aggregator's whole check of an update, against a real open round.
            _ = Self.validator.validate(agent: "a1", round: 1, payload: bytes)
        case .round: _ = try? ProtocolJSON.decode(RoundAnnouncement.self, from: bytes)
        case .agentStatus: _ = try? ProtocolJSON.decode(AgentStatus.self, from: bytes)
        case .aggregatorStatus: _ = try? ProtocolJSON.decode(AggregatorStatus.self, from: bytes)
        case .metrics: _ = try? ProtocolJSON.decode(RoundMetrics.self, from: bytes)
        case .evaluation: _ = try? ProtocolJSON.decode(AgentEvaluation.self, from: bytes)
        case .enrolment: _ = try? ProtocolJSON.decode(Enrolment.self, from: bytes)
        case .checkpoint: _ = try? json.decode(AggregatorCheckpoint.self, from: Data(bytes))
        case .csv: _ = try? CSVReader.parse(String(decoding: bytes, as: UTF8.self), file: "fuzz.csv")
        case .modelSpec: _ = try? ModelSpec.parse(String(decoding: bytes, as: UTF8.self))
        case .agentConfig: _ = (try? json.decode(AgentConfig.self, from: Data(bytes)))?.validateOrNil()
        case .aggregatorConfig: _ = (try? json.decode(AggregatorConfig.self, from: Data(bytes)))?.validateOrNil()
        case .secagg:
            // Every secure-aggregation message an agent or the aggregator decodes.
            _ = try? ProtocolJSON.decode(SecAggKeys.self, from: bytes)
            _ = try? ProtocolJSON.decode(SecAggRoster.self, from: bytes)
            _ = try? ProtocolJSON.decode(SecAggShares.self, from: bytes)
            _ = try? ProtocolJSON.decode(SecAggShareDelivery.self, from: bytes)
            _ = try? ProtocolJSON.decode(SecAggUnmask.self, from: bytes)
            _ = try? ProtocolJSON.decode(SecAggReveal.self, from: bytes)
            _ = try? ModelCodec.decodeMasked(bytes, job: "fuzz", round: 1, agent: "a1", dimension: 4)
        case .agentRound:
            Self.agentRound(bytes)
        case .homomorphic:
            // Every homomorphic payload: the key holder's key, an agent's encrypted update (as the
            // aggregator checks it), a decryption request (as the key holder reads it) and a sum.
            let (key, packing) = Self.paillier
            _ = try? HomomorphicKey(payload: bytes, job: "fuzz")
            _ = try? HomomorphicCodec.decodeUpdate(
                bytes, job: "fuzz", round: 1, agent: "a1", baseSHA256: Self.openRound.model.sha256, key: key, packing: packing, values: 15)
            _ = try? HomomorphicCodec.decodeRequest(bytes, job: "fuzz", round: 1, key: key)
            _ = try? HomomorphicCodec.decodeSum(bytes, job: "fuzz", round: 1, requestSHA256: "", count: 1, key: key)
        }
    }

    /// A 2048-bit key (seeded: the fuzzer needs no secret) and the packing of a 15-value model.
    static let paillier: (HomomorphicKey, PaillierPacking) = {
        var random = SplitMix64(seed: 7)
        let key = try! PaillierPrivateKey.generate(bits: 2048, using: &random)
        let message = HomomorphicKeyMessage(job: "fuzz", key: key.publicKey, base: key.fastEncryptionBase(using: &random))
        return (
            try! HomomorphicKey(payload: ProtocolJSON.encode(message), job: "fuzz"),
            try! PaillierPacking(clip: 1, scale: 1024, cohort: 2, keyBits: 2048)
        )
    }()

    /// An announcement that decodes goes through an agent's whole round: its base is set to the
    /// model the agent holds, so it trains (a delta stands in for training), clips, noises,
    /// encodes and publishes; the raw announcement then arrives again mid-round. Every number
    /// the agent computes with comes from the announcement: nothing may trap.
    static func agentRound(_ bytes: [UInt8]) {
        guard var announcement = try? ProtocolJSON.decode(RoundAnnouncement.self, from: bytes) else { return }
        let machine = openRound
        announcement.job = "fuzz"
        announcement.baseModelSHA256 = machine.model.sha256
        guard let agent = try? AgentStateMachine(agent: "a1", job: "fuzz", lastServedRound: 0, random: SplitMix64(seed: 1)) else { return }
        var state = agent
        let now = announcement.openedAt
        _ = state.modelReceived(machine.modelBytes, now: now)
        _ = state.roundReceived(ProtocolJSON.encode(announcement), now: now)
        _ = state.roundReceived(bytes, now: now)
        var trained = machine.model.parameters
        try? trained.add(machine.model.parameters)
        _ = state.trainingFinished(round: announcement.round, trained: trained, examples: 3, now: now)
        _ = state.status(now: now)
    }

    /// An open round 1 of a small softmax model, as the aggregator would check updates against.
    static let openRound: (announcement: RoundAnnouncement, model: GlobalModel, modelBytes: [UInt8]) = {
        let spec = ModelSpec(kind: .softmaxRegression, inputs: 4, outputs: 3)
        let machine = try! AggregatorStateMachine(
            job: "fuzz", policy: RoundPolicy(targetUpdates: 2, minUpdates: 1, normBound: 10), spec: spec,
            initial: try! spec.initialParameters(seed: 0), now: 0)
        return (machine.announcement, machine.model, machine.modelBytes)
    }()
    static let validator = UpdateValidator(announcement: openRound.announcement, model: openRound.model, allowedAgents: nil)
}

extension AgentConfig {
    func validateOrNil() -> Bool { (try? validate()) != nil }
}

extension AggregatorConfig {
    func validateOrNil() -> Bool { (try? validate()) != nil }
}
