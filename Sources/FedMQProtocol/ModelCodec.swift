import Crypto
import FedMQCore

/// The global model as published on `global/model`.
public struct GlobalModel: Sendable, Equatable {
    public var job: String
    /// The round that produced it (0: the initial model).
    public var round: Int
    public var spec: ModelSpec
    public var parameters: Parameters
    /// sha256 of the exact payload bytes; rounds name their base model by it.
    public var sha256: String
}

/// safetensors payloads with FedMQ's metadata conventions (`fedmq.*` keys).
public enum ModelCodec {
    /// The metadata keys FedMQ writes into safetensors files.
    public enum Key {
        public static let kind = "fedmq.kind"
        public static let job = "fedmq.job"
        public static let round = "fedmq.round"
        public static let modelSpec = "fedmq.model_spec"
        public static let baseSHA256 = "fedmq.base_sha256"
        public static let agent = "fedmq.agent"
        public static let examples = "fedmq.examples"
        /// A site's partial aggregate: how many agents' updates it folds.
        public static let updates = "fedmq.updates"
        public static let site = "fedmq.site"
    }

    /// The SHA-256 of `bytes` in lowercase hex.
    public static func sha256(_ bytes: [UInt8]) -> String {
        CanonicalBytes.hex(SHA256.hash(data: bytes))
    }

    /// Encodes a global model (float32) with its spec, so devices can rebuild it from the
    /// payload alone.
    public static func encodeModel(_ parameters: Parameters, spec: ModelSpec, job: String, round: Int) -> [UInt8] {
        SafetensorsEncoder.encode(
            parameters,
            metadata: [Key.kind: "model", Key.job: job, Key.round: "\(round)", Key.modelSpec: spec.jsonString()])
    }

    /// Decodes and checks a global model payload.
    public static func decodeModel(_ bytes: [UInt8]) throws(ProtocolError) -> GlobalModel {
        var specs = ModelSpecCache()
        return try decodeModel(bytes, specs: &specs)
    }

    /// Decodes and checks a global model payload, parsing its spec only if `specs` does not
    /// hold the same text already (every model of a job carries the same spec). `sha256` is
    /// the payload's hex digest when the caller has it already.
    public static func decodeModel(_ bytes: [UInt8], specs: inout ModelSpecCache, sha256 digest: String? = nil) throws(ProtocolError)
        -> GlobalModel
    {
        let file: SafetensorsFile
        do {
            file = try SafetensorsDecoder.decode(bytes, limits: SafetensorsLimits(maxHeaderBytes: 16 << 20))
        } catch {
            throw .core(error)
        }
        let metadata = file.metadata
        guard metadata[Key.kind] == "model" else { throw .invalidModel("metadata \(Key.kind) is not 'model'") }
        guard let job = metadata[Key.job], Identifier.isValid(job) else { throw .invalidModel("metadata \(Key.job) is missing or invalid") }
        guard let round = metadata[Key.round].flatMap(Int.init), round >= 0 else {
            throw .invalidModel("metadata \(Key.round) is missing or invalid")
        }
        guard let specJSON = metadata[Key.modelSpec] else { throw .invalidModel("metadata \(Key.modelSpec) is missing") }
        do {
            let spec = try specs.spec(parsing: specJSON)
            let parameters = try file.parameters(orderedAs: spec.parameterLayout.map(\.name))
            try spec.check(parameters)
            guard parameters.allFinite else { throw ProtocolError.invalidModel("the model holds NaN or infinite values") }
            return GlobalModel(job: job, round: round, spec: spec, parameters: parameters, sha256: digest ?? sha256(bytes))
        } catch let error as CoreError {
            throw .core(error)
        } catch let error as ProtocolError {
            throw error
        } catch {
            throw .invalidModel("\(error)")
        }
    }

    /// Encodes an agent's update (a delta from the base model).
    public static func encodeUpdate(
        _ delta: Parameters, encoding: TensorEncoding, job: String, round: Int, agent: String, baseSHA256: String,
        examples: Int, stochasticRoundingSeed: UInt64? = nil
    ) -> [UInt8] {
        SafetensorsEncoder.encode(
            delta, encoding: encoding, metadata: updateMetadata(job: job, round: round, agent: agent, baseSHA256: baseSHA256, examples: examples),
            stochasticRoundingSeed: stochasticRoundingSeed)
    }

    /// Encodes a top-k sparsified update: each tensor's kept values and their positions (U32
    /// indices, or with `bitmaps` a bitmap where that is smaller).
    public static func encodeUpdate(
        sparse delta: SparseParameters, encoding: TensorEncoding, job: String, round: Int, agent: String, baseSHA256: String,
        examples: Int, stochasticRoundingSeed: UInt64? = nil, bitmaps: Bool = false
    ) -> [UInt8] {
        SafetensorsEncoder.encode(
            sparse: delta, encoding: encoding,
            metadata: updateMetadata(job: job, round: round, agent: agent, baseSHA256: baseSHA256, examples: examples),
            stochasticRoundingSeed: stochasticRoundingSeed, bitmaps: bitmaps)
    }

    /// Encodes a site's partial aggregate (float32): its agents' weighted mean delta, the weight
    /// behind it as `fedmq.examples` (so the parent folds it like an update) and the number of
    /// agents' updates it holds as `fedmq.updates`.
    public static func encodePartial(_ meanDelta: Parameters, job: String, round: Int, site: String, baseSHA256: String, weight: Int, updates: Int)
        -> [UInt8]
    {
        SafetensorsEncoder.encode(
            meanDelta,
            metadata: [
                Key.kind: "partial", Key.job: job, Key.round: "\(round)", Key.site: site, Key.baseSHA256: baseSHA256,
                Key.examples: "\(weight)", Key.updates: "\(updates)",
            ])
    }

    private static func updateMetadata(job: String, round: Int, agent: String, baseSHA256: String, examples: Int) -> [String: String] {
        [
            Key.kind: "update", Key.job: job, Key.round: "\(round)", Key.agent: agent, Key.baseSHA256: baseSHA256,
            Key.examples: "\(examples)",
        ]
    }

    /// The round an update's metadata names; nil when the bytes are not a safetensors file with one.
    public static func updateRound(_ payload: [UInt8]) -> Int? {
        guard let file = try? SafetensorsDecoder.decode(payload) else { return nil }
        return file.metadata[Key.round].flatMap(Int.init)
    }

    /// An update's delta, dense and shaped like `model`, whether it was sent dense or sparse.
    public static func delta(of file: SafetensorsFile, like model: Parameters) throws(CoreError) -> Parameters {
        if file.isSparse { return try file.sparseParameters(orderedAs: model.names).densified(like: model) }
        if let sparsity = file.metadata[SparseParameters.metadataKey] {
            throw .safetensors(
                .invalidMetadata("\(SparseParameters.metadataKey) '\(sparsity.prefix(40))' is not '\(SparseParameters.metadataValue)'"))
        }
        let delta = try file.parameters(orderedAs: model.names)
        try delta.checkCompatible(with: model)
        return delta
    }

    /// A secure-aggregation masked update: one U32 tensor `masked`, words modulo 2^32.
    public static func encodeMasked(_ words: [UInt32], job: String, round: Int, agent: String) -> [UInt8] {
        SafetensorsEncoder.encode(
            words: words, named: "masked", metadata: [Key.kind: "masked_update", Key.job: job, Key.round: "\(round)", Key.agent: agent])
    }

    /// The words of a masked update for `job`, `round` and `agent`, checked to number `dimension`.
    public static func decodeMasked(_ payload: [UInt8], job: String, round: Int, agent: String, dimension: Int) throws(ProtocolError) -> [UInt32] {
        let file: SafetensorsFile
        do {
            file = try SafetensorsDecoder.decode(payload)
        } catch {
            throw .core(error)
        }
        let metadata = file.metadata
        guard metadata[Key.kind] == "masked_update", metadata[Key.job] == job, metadata[Key.round] == "\(round)", metadata[Key.agent] == agent else {
            throw .secureAggregation("masked update metadata does not name this job, round and agent")
        }
        guard file.tensors.isEmpty, file.indices.count == 1, let words = file.indices["masked"], words.count == dimension else {
            throw .secureAggregation("a masked update holds one U32 tensor 'masked' of \(dimension) words")
        }
        return words
    }
}
