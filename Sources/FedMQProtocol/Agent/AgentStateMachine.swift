import FedMQCore

/// The agent's round logic: wait for a round and the model it names -> train -> clip and
/// encode the delta -> record the round as served -> publish. Pure: time comes with events.
public struct AgentStateMachine {
    public let agent: String
    public let topics: Topics
    public private(set) var model: GlobalModel?
    private var modelSpecs = ModelSpecCache()
    /// The latest round announcement seen.
    public private(set) var round: RoundAnnouncement?
    /// The last round this agent published for (persisted by the runtime).
    public internal(set) var lastServedRound: Int
    /// The round being trained, if any.
    public internal(set) var trainingRound: Int?
    /// The announcement as it was when training started: its privacy, bounds and encoding hold
    /// for the whole round, whatever a later re-announcement of the same round says.
    var trainingAnnouncement: RoundAnnouncement?
    /// The model training started from: the delta is taken against it, even when a newer
    /// version arrived meanwhile (asynchronous jobs).
    var trainingBase: GlobalModel?
    /// The owner's limits on how often this agent trains, with its recent publish times.
    public internal(set) var pacing: AgentPacing
    /// When the pacing lets a waiting round start, if one waits for it.
    private var pacedUntil: Double?
    /// Asynchronous jobs: the round that was open when this agent last published. Its update
    /// goes into that round's buffer (or a later one), where a second update from this agent
    /// would be refused, so the next training waits for a newer round.
    var publishedDuring: Int?
    /// The last round refused under the owner's privacy policy (said once per round).
    private var refusedRound: Int?
    /// The update published for `lastServedRound`, to resend if the aggregator lost it.
    public internal(set) var lastUpdate: SentUpdate?
    /// Set at start when an update was kept: the process may have died after recording the
    /// round as served but before the publish was acknowledged, so the first announcement of
    /// that round that does not list this agent gets the update again (a duplicate is refused).
    private var resendKeptUpdate: Bool
    /// The round of the last global model this agent was asked to evaluate.
    public private(set) var lastEvaluatedRound = -1
    /// Every privacy mechanism this agent ran for the job (persisted by the runtime).
    public internal(set) var ledger: [DPEvent]
    /// The owner's limit; training stops before a round would exceed it.
    public let budget: PrivacyBudget?
    /// The least privacy the owner accepts, whatever an announcement asks for.
    public let privacyPolicy: AgentPrivacyPolicy
    /// The fleet's enrolled identity keys: secure-aggregation neighbours must be among them.
    let enrolment: [String: VerifyingKey]?
    private var refusing = false
    /// Top-k sparsification with error feedback, when the agent is set to send only a share of
    /// each update (its residual is persisted by the runtime).
    public internal(set) var errorFeedback: ErrorFeedback?
    /// The open round's secure aggregation, while this agent takes part in it.
    var secure: SecAggClient?
    /// The settings of the round `secure` belongs to, as announced when it started.
    var secureSettings: SecureAggregationSettings?
    /// The quantized update (and its privacy event) waiting for the neighbours' shares.
    var secureInput: (words: [UInt32], event: DPEvent?)?
    /// Secure-aggregation messages already handled (sha256 of payloads): retained inbox
    /// messages come again after a reconnect.
    var handledSecAgg: Set<String> = []
    /// Signs this agent's updates (its enrolled identity).
    let identity: SigningKey?
    /// With it, only a global model and round announcements the aggregator signed are used.
    let aggregatorKey: VerifyingKey?
    /// The key holder's identity key: with it, this agent takes part in homomorphic rounds, under
    /// the public key the key holder signed (never one the aggregator names).
    let keyholder: VerifyingKey?
    /// The key holder's current Paillier key, once it arrived.
    var homomorphicKey: HomomorphicKey?
    /// Privacy noise: the system's CSPRNG in production, a seeded generator in tests.
    var random: any RandomNumberGenerator
    /// A global model was refused (forged, unsigned, undecodable, another job's).
    private var refusedModel = false
    /// The model the open round needs, while this agent holds another (said in its status).
    private var waitingForModel: String?
    /// Since when this agent has waited for the job's model or round (nil: it holds both),
    /// and when it last said so.
    private var waitingSince: Double?
    private var lastWaitingNotice = -Double.infinity
    /// How often an agent without the job's model or round says so.
    public static let waitingNoticeSeconds = 60.0
    /// Why the last round this agent could not serve was given up, until it serves one (said
    /// in its status as `last_error`, so a fleet view shows it without the device's log).
    public internal(set) var lastError: String?

    /// The agent as its durable record left it: the last served round, its privacy ledger and the
    /// update kept for that round, with its keys and the owner's policy.
    public init(
        agent: String, job: String, lastServedRound: Int, ledger: [DPEvent] = [], budget: PrivacyBudget? = nil,
        privacyPolicy: AgentPrivacyPolicy = AgentPrivacyPolicy(), identity: SigningKey? = nil, aggregatorKey: VerifyingKey? = nil,
        enrolment: [String: VerifyingKey]? = nil, keyholder: VerifyingKey? = nil, lastUpdate: SentUpdate? = nil,
        errorFeedback: ErrorFeedback? = nil, pacing: AgentPacing = AgentPacing(), random: any RandomNumberGenerator = SystemRandomNumberGenerator()
    ) throws(ProtocolError) {
        try Identifier.validate(agent, kind: "agent")
        try privacyPolicy.validate()
        try pacing.validate()
        self.pacing = pacing
        topics = try Topics(job: job)
        self.privacyPolicy = privacyPolicy
        self.enrolment = enrolment
        self.agent = agent
        self.lastServedRound = lastServedRound
        self.ledger = ledger
        self.budget = budget
        self.identity = identity
        self.aggregatorKey = aggregatorKey
        self.keyholder = keyholder
        self.lastUpdate = lastUpdate?.round == lastServedRound ? lastUpdate : nil
        resendKeptUpdate = self.lastUpdate != nil
        publishedDuring = self.lastUpdate?.publishedDuring
        self.errorFeedback = errorFeedback
        self.random = random
    }

    /// Time passed: a round that waited for the owner's pacing starts; an agent that has had no
    /// model or no round announcement for a minute says so, every minute (a job name that
    /// matches no aggregator would otherwise wait in silence).
    public mutating func tick(now: Double) -> [AgentAction] {
        if let pacedUntil, now >= pacedUntil {
            self.pacedUntil = nil
            return startIfReady(now: now)
        }
        let missing = [model == nil ? "global model" : nil, round == nil ? "round announcement" : nil].compactMap { $0 }
        guard !missing.isEmpty else {
            waitingSince = nil
            return []
        }
        let since = waitingSince ?? now
        waitingSince = since
        guard now - since >= Self.waitingNoticeSeconds, now - lastWaitingNotice >= Self.waitingNoticeSeconds else { return [] }
        lastWaitingNotice = now
        return [
            .warning(
                "no \(missing.joined(separator: " and ")) for job '\(topics.job)' after \(Int(now - since)) s "
                    + "(on \(topics.globalModel) and \(topics.globalRound)): is its aggregator running, and is the job name right?")
        ]
    }

    /// The retained status this agent publishes now.
    public func status(now: Double) -> AgentStatus {
        let state: AgentStatus.State = refusing ? .budgetExhausted : (trainingRound == nil ? .idle : .training)
        let delta = budget?.delta ?? round?.privacy?.delta
        var status = AgentStatus(
            agent: agent, state: state, lastRound: lastServedRound, time: now,
            epsilonSpent: delta.map { PrivacyLedger.epsilon(of: ledger, delta: $0) }, delta: delta)
        status.waitingForModel = waitingForModel
        status.lastError = lastError
        return status
    }

    /// The retained `global/model` arrived (or changed), with its `fedmq-signature` property if any.
    public mutating func modelReceived(_ payload: [UInt8], signature: String? = nil, now: Double) -> [AgentAction] {
        // One hash serves the signature's statement and the model's identity.
        let digest = ModelCodec.sha256(payload)
        if let refusal = unsigned(signature, SignedStatement.model(job: topics.job, sha256: digest), what: "global model") {
            return refuseModel(refusal, now: now)
        }
        let decoded: GlobalModel
        do {
            decoded = try ModelCodec.decodeModel(payload, specs: &modelSpecs, sha256: digest)
        } catch {
            return refuseModel("global model refused: \(error)", now: now)
        }
        guard decoded.job == topics.job else { return refuseModel("global model is for job '\(decoded.job)'", now: now) }
        if let held = model, decoded.round < held.round {
            return [.ignored("global model of round \(decoded.round) is older than the one held (round \(held.round)): a replay")]
        }
        model = decoded
        refusedModel = false
        if waitingForModel == decoded.sha256 { waitingForModel = nil }
        return evaluateIfAsked() + startIfReady(now: now)
    }

    /// The retained `global/round` arrived (or changed), with its `fedmq-signature` property if any.
    public mutating func roundReceived(_ payload: [UInt8], signature: String? = nil, now: Double) -> [AgentAction] {
        if let refusal = unsigned(signature, SignedStatement.announcement(job: topics.job, payload: payload), what: "round announcement") {
            return [.ignored(refusal)]
        }
        let announcement: RoundAnnouncement
        do {
            announcement = try ProtocolJSON.decode(RoundAnnouncement.self, from: payload)
        } catch {
            return [.ignored("round announcement refused: \(error)")]
        }
        guard announcement.job == topics.job else { return [.ignored("round announcement is for job '\(announcement.job)'")] }
        if let held = round, announcement.precedes(held) {
            return [
                .ignored(
                    "round \(announcement.round) revision \(announcement.revision ?? 0) is older than the one held (round \(held.round) revision \(held.revision ?? 0)): a replay"
                )
            ]
        }
        round = announcement
        // (A secure round cannot take a lost masked update again: its stages have moved on.)
        // With sites, `received` names the sites whose partials the central aggregator holds, not agents.
        let held = announcement.sites == nil ? announcement.received.map { $0.contains(agent) } : nil
        // With ingest shards a second copy could reach another shard and count twice: it never goes again.
        let lost = announcement.ingestShards == true ? false : held.map { !$0 } ?? resendKeptUpdate
        if let sent = lastUpdate, sent.belongs(to: announcement) { resendKeptUpdate = false }
        if lost, let resend = keptUpdateAgain(for: announcement, now: now, reason: "the aggregator does not hold this agent's update") {
            // The aggregator restarted (or extended the round) without our update, or this agent
            // restarted before its publish was acknowledged. The same bytes go again.
            return resend
        }
        return evaluateIfAsked() + startIfReady(now: now)
    }

    /// A restarted site aggregator's receipt arrived on `site/<site>/received`: if it lacks this
    /// agent's update of the open round, the same bytes go again. Unsigned (agents hold no site
    /// keys): a forged receipt can only cause a resend, which the site refuses as a duplicate.
    public mutating func siteReceiptReceived(_ payload: [UInt8], now: Double) -> [AgentAction] {
        guard let receipt = try? ProtocolJSON.decode(SiteReceipt.self, from: payload), receipt.job == topics.job else {
            return [.ignored("site receipt refused: not a receipt of this job")]
        }
        guard let round, round.sites != nil, round.round == receipt.round, !receipt.received.contains(agent) else { return [] }
        return keptUpdateAgain(for: round, now: now, reason: "site '\(receipt.site)' restarted without this agent's update") ?? []
    }

    /// The kept update again, if it belongs to `announcement`'s open round (not a secure one, whose stages moved on).
    private func keptUpdateAgain(for announcement: RoundAnnouncement, now: Double, reason: String) -> [AgentAction]? {
        guard let sent = lastUpdate, sent.belongs(to: announcement), announcement.isOpen(now: now), announcement.secureAggregation == nil else {
            return nil
        }
        return [
            .ignored("round \(sent.round): \(reason); sending it again"),
            .publishUpdate(
                topic: topics.update(round: sent.round, agent: agent), payload: sent.payload,
                expirySeconds: announcement.updateExpirySeconds(now: now), signature: sent.signature),
        ]
    }

    /// A refused model leaves this agent without the one the open round needs: it says so in
    /// its status, so the aggregator publishes the real one again.
    private mutating func refuseModel(_ reason: String, now: Double) -> [AgentAction] {
        refusedModel = true
        return [.ignored(reason)] + (round == nil ? [] : startIfReady(now: now))
    }

    /// Federated evaluation: the open round names the model as its base and asks for every
    /// k-th model to be evaluated; each model once.
    private mutating func evaluateIfAsked() -> [AgentAction] {
        guard let round, let every = round.evaluateEvery, let model, model.sha256 == round.baseModelSHA256,
            model.round % every == 0, model.round > lastEvaluatedRound
        else { return [] }
        lastEvaluatedRound = model.round
        return [.evaluate(base: model, training: round.training)]
    }

    /// Why a message must be refused for its signature, or nil when it may be used.
    func unsigned(_ signature: String?, _ statement: @autoclosure () -> [UInt8], what: String) -> String? {
        guard let aggregatorKey else { return nil }
        guard let signature else { return "\(what) refused: not signed, and this agent trusts only its aggregator's key" }
        return aggregatorKey.verifies(signature, for: statement()) ? nil : "\(what) refused: the signature is not the aggregator's"
    }

    mutating func startIfReady(now: Double) -> [AgentAction] {
        guard let round else { return [.ignored("no round is open yet")] }
        guard trainingRound == nil else { return [.ignored("still training round \(trainingRound ?? 0)")] }
        guard round.round > lastServedRound else { return [.ignored("round \(round.round) is already served")] }
        if let publishedDuring, round.round <= publishedDuring {
            return [.ignored("round \(round.round): this agent's last update waits in its buffer")]
        }
        guard round.isOpen(now: now) else { return [.ignored("round \(round.round) is past its deadline")] }
        if let selected = round.selected, !selected.contains(agent) {
            return [.ignored("round \(round.round) selected \(selected.count) other agents")]
        }
        guard let model, model.sha256 == round.baseModelSHA256 else {
            let waiting = [AgentAction.ignored("round \(round.round) waits for model \(round.baseModelSHA256.prefix(12))")]
            // Only a refused or stale model is worth a word: otherwise the model is on its way.
            guard refusedModel || model != nil, waitingForModel != round.baseModelSHA256 else { return waiting }
            waitingForModel = round.baseModelSHA256
            return waiting + [.publishStatus(status(now: now))]
        }
        waitingForModel = nil
        if let next = pacing.nextAllowed(now: now) {
            pacedUntil = next
            return [.ignored("round \(round.round) waits \(Int((next - now).rounded(.up))) s for this agent's pacing")]
        }
        if let refusal = privacyPolicy.refusal(of: round, budgeted: budget != nil) {
            return refuse(round.round, refusal, now: now)
        }
        let planned = PrivacyLedger.events(for: round)
        if let budget, !planned.isEmpty {
            let after = PrivacyLedger.epsilon(of: ledger + planned, delta: budget.delta)
            if after > budget.epsilon {
                let wasRefusing = refusing
                refusing = true
                let reason = "round \(round.round) refused: epsilon would reach \(PrintfFormat.string("%.3f", after)) > budget \(budget.epsilon)"
                lastError = reason
                return wasRefusing ? [.ignored(reason)] : [.ignored(reason), .publishStatus(status(now: now))]
            }
        }
        if let waiting = homomorphicWait(round, now: now) { return waiting }
        var secureStart: [AgentAction] = []
        if round.secureAggregation != nil {
            // The roster decides who learns what: it must be the aggregator's, and name enrolled agents only.
            guard let identity, aggregatorKey != nil, enrolment != nil else {
                return refuse(
                    round.round, "secure aggregation needs this agent's identity_key, the aggregator_key and the fleet's enrolment", now: now)
            }
            do {
                let client = try SecAggClient(agent: agent, job: topics.job, round: round.round, identity: identity, using: &random)
                secure = client
                secureSettings = round.secureAggregation
                secureInput = nil
                secureStart = [secAggMessage(.keys, round: round.round, payload: ProtocolJSON.encode(client.keys), now: now)]
            } catch {
                return [.ignored("round \(round.round): could not make secure-aggregation keys: \(error)")]
            }
        }
        let work: AgentAction
        if let analytics = round.analytics {
            guard model.spec == .statistics(analytics) else {
                return refuse(round.round, "the global model is not the statistics vector of the round's analytics queries", now: now)
            }
            work = .computeStatistics(round: round.round, base: model, analytics: analytics)
        } else {
            work = .train(round: round.round, base: model, config: round.training)
        }
        trainingRound = round.round
        trainingAnnouncement = round
        trainingBase = model
        return [.publishStatus(status(now: now))] + secureStart + [work]
    }

    /// Refuses `roundNumber` for `reason`, said once per round.
    mutating func refuse(_ roundNumber: Int, _ reason: String, now: Double) -> [AgentAction] {
        guard refusedRound != roundNumber else { return [.ignored("round \(roundNumber) refused: \(reason)")] }
        refusedRound = roundNumber
        return fail(roundNumber, reason, now: now)
    }

    /// Gives up `roundNumber` for `reason`: a warning in the log and `last_error` in the
    /// retained status.
    mutating func fail(_ roundNumber: Int, _ reason: String, now: Double) -> [AgentAction] {
        lastError = "round \(roundNumber): \(reason)"
        return [.refused(round: roundNumber, reason: reason), .publishStatus(status(now: now))]
    }
}
