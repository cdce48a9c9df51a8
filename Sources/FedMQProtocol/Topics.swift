/// FedMQ's v1 topic layout under `fedmq/v1/<job>/`.
public struct Topics: Sendable, Equatable {
    public static let root = "fedmq/v1"
    public let job: String

    /// The topics of `job`; refuses an invalid job id.
    public init(job: String) throws(ProtocolError) {
        try Identifier.validate(job, kind: "job")
        self.job = job
    }

    /// The topic prefix of this job.
    public var prefix: String { "\(Self.root)/\(job)" }
    /// Every job's aggregator status (retained): the jobs a broker serves.
    public static let everyAggregatorStatus = "\(root)/+/aggregator/status"

    /// The job whose aggregator status `topic` is, if it is one.
    public static func job(ofAggregatorStatus topic: String) -> String? {
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard levels.count == 5, "\(levels[0])/\(levels[1])" == root, levels[3...] == ["aggregator", "status"], Identifier.isValid(levels[2])
        else { return nil }
        return levels[2]
    }
    /// safetensors, retained: the current global model.
    public var globalModel: String { "\(prefix)/global/model" }
    /// JSON, retained: the open round (`RoundAnnouncement`).
    public var globalRound: String { "\(prefix)/global/round" }
    /// JSON, retained: the last closed round's summary (`RoundMetrics`).
    public var metrics: String { "\(prefix)/metrics" }
    /// JSON, retained, last will: the aggregator's state.
    public var aggregatorStatus: String { "\(prefix)/aggregator/status" }
    /// Every agent's update in every round (the aggregator's subscription).
    public var allUpdates: String { "\(prefix)/round/+/update/+" }
    /// Every site aggregator's partial aggregate of every round (the central aggregator's subscription).
    public var allPartials: String { "\(prefix)/round/+/partial/+" }
    /// Every agent's evaluation of every global model.
    public var allEvaluations: String { "\(prefix)/round/+/eval/+" }
    /// Every agent's status.
    public var allStatuses: String { "\(prefix)/status/+" }
    /// Every agent's secure-aggregation messages (keys, shares, masked updates, reveals).
    public var allSecAgg: String { "\(prefix)/round/+/secagg/+/+" }
    /// What the aggregator sends one agent in secure-aggregation rounds (its ACL reads only its own).
    public func secAggInbox(agent: String) -> String { "\(prefix)/round/+/secagg/inbox/\(agent)/+" }
    /// Every round's unmask request.
    public var allSecAggUnmasks: String { "\(prefix)/round/+/secagg/unmask" }
    /// JSON, retained, signed by the key holder: its Paillier public key (homomorphic jobs).
    public var homomorphicKey: String { "\(prefix)/he/key" }
    /// JSON, retained, last will: the key holder's state (`KeyholderStatus`).
    public var keyholderStatus: String { "\(prefix)/he/keyholder/status" }
    /// Every round's decryption request (the key holder's subscription).
    public var allDecryptionRequests: String { "\(prefix)/round/+/he/request" }
    /// Every round's decrypted sum (the aggregator's subscription).
    public var allDecryptedSums: String { "\(prefix)/round/+/he/sum" }
    /// safetensors, retained until the decryption deadline: the aggregate to decrypt.
    public func decryptionRequest(round: Int) -> String { "\(prefix)/round/\(round)/he/request" }
    /// safetensors, retained until the decryption deadline: the key holder's sum.
    public func decryptedSum(round: Int) -> String { "\(prefix)/round/\(round)/he/sum" }
    /// Everything of this job (for `fedmq watch`).
    public var everything: String { "\(prefix)/#" }

    /// safetensors: one agent's update for one round.
    public func update(round: Int, agent: String) -> String { "\(prefix)/round/\(round)/update/\(agent)" }
    /// safetensors: one site's partial aggregate of one round (its agents' weighted mean delta).
    public func partial(round: Int, site: String) -> String { "\(prefix)/round/\(round)/partial/\(site)" }
    /// JSON, retained, on the site broker: the agents whose updates a restarted site aggregator holds.
    public func siteReceipt(site: String) -> String { "\(prefix)/site/\(site)/received" }
    /// Every site's receipt (an agent's subscription: it sees its own site's only, since bridges do not carry them).
    public var allSiteReceipts: String { "\(prefix)/site/+/received" }
    /// JSON, retained, last will: one site aggregator's state.
    public func siteStatus(site: String) -> String { "\(prefix)/site/\(site)/status" }
    /// JSON: one agent's evaluation of the global model of `round`.
    public func evaluation(round: Int, agent: String) -> String { "\(prefix)/round/\(round)/eval/\(agent)" }
    /// JSON, retained, last will: one agent's state.
    public func status(agent: String) -> String { "\(prefix)/status/\(agent)" }
    /// An agent's secure-aggregation message of `stage`.
    public func secAgg(_ stage: SecAggStage, round: Int, agent: String) -> String { "\(prefix)/round/\(round)/secagg/\(stage.rawValue)/\(agent)" }
    /// JSON, retained until the stage's deadline: the aggregator's message to one agent.
    public func secAggInbox(_ kind: SecAggInboxKind, round: Int, agent: String) -> String {
        "\(prefix)/round/\(round)/secagg/inbox/\(agent)/\(kind.rawValue)"
    }
    /// JSON, retained: who survived and who dropped, asking the survivors to reveal.
    public func secAggUnmask(round: Int) -> String { "\(prefix)/round/\(round)/secagg/unmask" }

    /// What a received topic is.
    public enum Kind: Sendable, Equatable {
        case globalModel, globalRound, metrics, aggregatorStatus
        case update(round: Int, agent: String)
        case partial(round: Int, site: String)
        case siteStatus(site: String)
        case siteReceipt(site: String)
        case evaluation(round: Int, agent: String)
        case status(agent: String)
        case secAgg(SecAggStage, round: Int, agent: String)
        case secAggInbox(SecAggInboxKind, round: Int, agent: String)
        case secAggUnmask(round: Int)
        case homomorphicKey, keyholderStatus
        case decryptionRequest(round: Int)
        case decryptedSum(round: Int)
    }

    /// Parses a topic of this job; throws for anything else (including other jobs).
    public func parse(_ topic: String) throws(ProtocolError) -> Kind {
        guard topic.hasPrefix(prefix + "/") else { throw .unknownTopic(topic) }
        let levels = topic.dropFirst(prefix.count + 1).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch levels.count {
        case 2 where levels == ["global", "model"]: return .globalModel
        case 2 where levels == ["global", "round"]: return .globalRound
        case 1 where levels == ["metrics"]: return .metrics
        case 2 where levels == ["he", "key"]: return .homomorphicKey
        case 3 where levels == ["he", "keyholder", "status"]: return .keyholderStatus
        case 4 where levels[0] == "round" && levels[2] == "he" && ["request", "sum"].contains(levels[3]):
            let round = try Self.round(levels[1], topic)
            return levels[3] == "request" ? .decryptionRequest(round: round) : .decryptedSum(round: round)
        case 2 where levels == ["aggregator", "status"]: return .aggregatorStatus
        case 2 where levels[0] == "status" && Identifier.isValid(levels[1]): return .status(agent: levels[1])
        case 3 where levels[0] == "site" && ["status", "received"].contains(levels[2]) && Identifier.isValid(levels[1]):
            return levels[2] == "status" ? .siteStatus(site: levels[1]) : .siteReceipt(site: levels[1])
        case 4 where levels[0] == "round" && levels[2] == "partial" && Identifier.isValid(levels[3]):
            return .partial(round: try Self.round(levels[1], topic), site: levels[3])
        case 4 where levels[0] == "round" && ["update", "eval"].contains(levels[2]) && Identifier.isValid(levels[3]):
            guard let round = Int(levels[1]), round >= 0, String(round) == levels[1] else { throw .unknownTopic(topic) }
            return levels[2] == "update" ? .update(round: round, agent: levels[3]) : .evaluation(round: round, agent: levels[3])
        case 4 where levels[0] == "round" && levels[2] == "secagg" && levels[3] == "unmask":
            return .secAggUnmask(round: try Self.round(levels[1], topic))
        case 5 where levels[0] == "round" && levels[2] == "secagg" && Identifier.isValid(levels[4]):
            guard let stage = SecAggStage(rawValue: levels[3]) else { throw .unknownTopic(topic) }
            return .secAgg(stage, round: try Self.round(levels[1], topic), agent: levels[4])
        case 6 where levels[0] == "round" && levels[2] == "secagg" && levels[3] == "inbox" && Identifier.isValid(levels[4]):
            guard let kind = SecAggInboxKind(rawValue: levels[5]) else { throw .unknownTopic(topic) }
            return .secAggInbox(kind, round: try Self.round(levels[1], topic), agent: levels[4])
        default:
            throw .unknownTopic(topic)
        }
    }

    private static func round(_ level: String, _ topic: String) throws(ProtocolError) -> Int {
        guard let round = Int(level), round >= 0, String(round) == level else { throw .unknownTopic(topic) }
        return round
    }
}
