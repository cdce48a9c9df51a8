/// What FedMQ's signatures cover. Each statement starts with its own label, so a signature
/// made for one kind of message never verifies as another; ids cannot hold a newline, so the
/// fields cannot run into each other. Signatures travel as the MQTT 5 user property
/// `fedmq-signature` (base64), beside a payload that stays plain safetensors or JSON.
public enum SignedStatement {
    public static let property = "fedmq-signature"

    /// An agent's update: it names the job, the round, the model it was trained from and the
    /// sender, so it cannot be replayed into another round, job or agent's topic.
    public static func update(job: String, round: Int, baseSHA256: String, agent: String, payload: [UInt8]) -> [UInt8] {
        update(job: job, round: round, baseSHA256: baseSHA256, agent: agent, payloadSHA256: ModelCodec.sha256(payload))
    }

    /// The same statement from the payload's sha256 (hex), for a checker that holds only the
    /// hash: the key holder, which must never see an encrypted update itself.
    public static func update(job: String, round: Int, baseSHA256: String, agent: String, payloadSHA256: String) -> [UInt8] {
        Array("fedmq/v1 update\n\(job)\n\(round)\n\(baseSHA256)\n\(agent)\n\(payloadSHA256)".utf8)
    }

    /// A site aggregator's partial aggregate: like an update, it names job, round, base model and
    /// site, under its own label, so an agent's signature never passes for a site's.
    public static func partial(job: String, round: Int, baseSHA256: String, site: String, payload: [UInt8]) -> [UInt8] {
        Array("fedmq/v1 partial\n\(job)\n\(round)\n\(baseSHA256)\n\(site)\n\(ModelCodec.sha256(payload))".utf8)
    }

    /// A homomorphic round's message: the key holder's public key (`he-key`, round 0), the
    /// aggregator's decryption request (`he-request`) or the key holder's sum (`he-sum`).
    public static func homomorphic(_ kind: String, job: String, round: Int, payload: [UInt8]) -> [UInt8] {
        Array("fedmq/v1 \(kind)\n\(job)\n\(round)\n\(ModelCodec.sha256(payload))".utf8)
    }

    /// The global model (its payload names job and round in its metadata).
    public static func model(job: String, payload: [UInt8]) -> [UInt8] {
        model(job: job, sha256: ModelCodec.sha256(payload))
    }

    /// The global model whose payload's hex sha256 is `sha256` (hashed once for the
    /// signature and the model both).
    public static func model(job: String, sha256: String) -> [UInt8] {
        Array("fedmq/v1 model\n\(job)\n\(sha256)".utf8)
    }

    /// The round announcement on `global/round`.
    public static func announcement(job: String, payload: [UInt8]) -> [UInt8] {
        Array("fedmq/v1 round\n\(job)\n\(ModelCodec.sha256(payload))".utf8)
    }

    /// An agent's secure-aggregation keys for one round.
    public static func secAggKeys(job: String, round: Int, agent: String, cipherKey: String, maskKey: String, commitment: String) -> [UInt8] {
        Array("fedmq/v1 secagg-keys\n\(job)\n\(round)\n\(agent)\n\(cipherKey)\n\(maskKey)\n\(commitment)".utf8)
    }

    /// A secure-aggregation message the aggregator sends (roster, delivery, unmask).
    public static func secAgg(_ kind: String, job: String, round: Int, payload: [UInt8]) -> [UInt8] {
        Array("fedmq/v1 secagg-\(kind)\n\(job)\n\(round)\n\(ModelCodec.sha256(payload))".utf8)
    }
}
