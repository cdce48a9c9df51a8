import FedMQCore
import FedMQHomomorphic

/// What the key holder's runtime must do, in order, after an event.
public enum KeyholderAction: Sendable, Equatable {
    /// Publish the public key on `he/key`, retained, signed as `SignedStatement.homomorphic("he-key", …, round: 0)`.
    case publishKey([UInt8])
    /// Persist that `round`'s request of hash `requestSHA256` was answered, durably, before the
    /// sum goes out: after a restart the key holder still decrypts nothing else for that round.
    case recordAnswer(round: Int, requestSHA256: String)
    /// Publish the decrypted sum on `round/<round>/he/sum` at QoS 1 (the aggregator's persistent
    /// session holds it while the aggregator is away), signed as `SignedStatement.homomorphic("he-sum", …)`.
    case publishSum(round: Int, payload: [UInt8])
    /// A request that was not decrypted, and why (a warning: it may be an attack).
    case refused(round: Int, reason: String)
}

/// The key holder's logic: it holds the Paillier private key, and decrypts a round's aggregate
/// only when the request is signed by the aggregator, names at least `minUpdates` distinct
/// enrolled agents whose signatures over their updates verify, and is the only request it
/// answers for that round. It never receives an individual update, so it cannot decrypt one
/// unless the aggregator passes one off as an aggregate (see docs/security.md).
public struct KeyholderStateMachine: Sendable {
    public let job: String
    let key: PaillierPrivateKey
    let keyMessage: [UInt8]
    let publicKey: HomomorphicKey
    let aggregator: VerifyingKey
    let agents: [String: VerifyingKey]
    public let minUpdates: Int
    /// Each recent round's answered request (sha256), kept by the runtime.
    public private(set) var answered: [Int: String]
    /// Rounds at or below this are refused unless answered: older answers are forgotten.
    public private(set) var floor: Int
    /// How many answered rounds are remembered.
    static let remembered = 1000

    /// The key holder of `job` with its private key and the fast-encryption base it publishes,
    /// the aggregator's and the agents' identity keys, its own quorum, and what it answered before.
    public init(
        job: String, key: PaillierPrivateKey, base: BigInteger, aggregator: VerifyingKey, agents: [String: VerifyingKey], minUpdates: Int,
        answered: [Int: String] = [:], floor: Int = 0
    ) throws(ProtocolError) {
        try Identifier.validate(job, kind: "job")
        guard minUpdates >= 2 else {
            throw .invalidConfiguration("the key holder's min_updates must be at least 2: a sum of one update is that update")
        }
        self.job = job
        self.key = key
        keyMessage = ProtocolJSON.encode(HomomorphicKeyMessage(job: job, key: key.publicKey, base: base))
        publicKey = try HomomorphicKey(payload: keyMessage, job: job)
        self.aggregator = aggregator
        self.agents = agents
        self.minUpdates = minUpdates
        self.answered = answered
        self.floor = floor
    }

    /// The fingerprint agents and the aggregator see for this key.
    public var fingerprint: String { publicKey.fingerprint }

    /// What the key holder does when it (re)connects: publish its key.
    public func startActions() -> [KeyholderAction] { [.publishKey(keyMessage)] }

    /// The retained status it publishes now.
    public func status(_ state: KeyholderStatus.State, now: Double?) -> KeyholderStatus {
        KeyholderStatus(job: job, state: state, keySHA256: fingerprint, minUpdates: minUpdates, lastRound: answered.keys.max(), time: now)
    }

    /// A decryption request arrived on `round/<round>/he/request`, with its `fedmq-signature`.
    public mutating func requestReceived(round: Int, payload: [UInt8], signature: String?) -> [KeyholderAction] {
        func refuse(_ reason: String) -> [KeyholderAction] { [.refused(round: round, reason: reason)] }
        guard let signature, aggregator.verifies(signature, for: SignedStatement.homomorphic("he-request", job: job, round: round, payload: payload))
        else { return refuse("the request is not signed by the enrolled aggregator") }
        let sha256 = ModelCodec.sha256(payload)
        if let earlier = answered[round], earlier != sha256 {
            return refuse("round \(round) was decrypted once already, for another aggregate")
        }
        guard answered[round] != nil || round > floor else { return refuse("round \(round) is older than the rounds this key holder remembers") }
        let request: HomomorphicCodec.DecryptionRequest
        do {
            request = try HomomorphicCodec.decodeRequest(payload, job: job, round: round, key: publicKey)
        } catch {
            return refuse("\(error)")
        }
        let signers = Set(request.contributions.map(\.agent))
        guard signers.count == request.contributions.count else { return refuse("the request lists an agent twice") }
        guard signers.count >= minUpdates else {
            return refuse("the aggregate names \(signers.count) update(s); this key holder decrypts sums of at least \(minUpdates)")
        }
        for contribution in request.contributions {
            let statement = SignedStatement.update(
                job: job, round: round, baseSHA256: request.baseSHA256, agent: contribution.agent, payloadSHA256: contribution.sha256)
            guard let agentKey = agents[contribution.agent], agentKey.verifies(contribution.signature, for: statement) else {
                return refuse("the update of '\(contribution.agent.prefix(80))' is not signed by an enrolled agent")
            }
        }
        let sums: [BigInteger]
        do {
            sums = try request.aggregate.map { c throws(HomomorphicError) in try key.decrypt(c) }
        } catch {
            return refuse("\(error)")
        }
        let isNew = answered[round] == nil
        if isNew { remember(round: round, sha256: sha256) }
        let sum = HomomorphicCodec.encodeSum(sums, job: job, round: round, requestSHA256: sha256, key: key.publicKey)
        return (isNew ? [.recordAnswer(round: round, requestSHA256: sha256)] : [])
            + [.publishSum(round: round, payload: sum)]
    }

    private mutating func remember(round: Int, sha256: String) {
        answered[round] = sha256
        while answered.count > Self.remembered, let oldest = answered.keys.min() {
            answered[oldest] = nil
            floor = max(floor, oldest)
        }
    }
}
