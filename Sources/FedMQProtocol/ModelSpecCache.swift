import FedMQCore

/// The last model spec parsed, by its JSON text. A job's models all carry the same spec, and
/// parsing it again took a third of decoding a small model on an agent.
public struct ModelSpecCache: Sendable {
    private var last: (json: String, spec: ModelSpec)?

    /// An empty cache.
    public init() {}

    /// The spec `json` describes: the one parsed last if the text is the same, else parsed now.
    public mutating func spec(parsing json: String) throws(CoreError) -> ModelSpec {
        if let last, last.json == json { return last.spec }
        let spec = try ModelSpec.parse(json)
        last = (json, spec)
        return spec
    }
}
