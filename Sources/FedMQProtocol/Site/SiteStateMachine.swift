import FedMQCore

/// A site aggregator's logic: it follows the central aggregator's rounds (the retained
/// `global/round` and `global/model` that come down the bridge), validates its agents' updates
/// exactly as the central aggregator would, folds them into a partial aggregate with the same
/// FedAvg code, and sends that partial up once its agents are in (or at the cutoff, `margin`
/// seconds before the central deadline). No I/O and no clock.
///
/// Exactly once: the accepted updates are spooled before the partial is built from them; a
/// restart replays the spool and sends the partial only if it was not acknowledged, or if the
/// central aggregator's republished round does not list this site among those it holds.
public struct SiteStateMachine {
    public let job: String
    public let settings: SiteSettings
    /// Enrolled agents' keys; with them, only updates their agents signed count.
    let signers: [String: VerifyingKey]?
    /// The central aggregator's key; with it, only the round and model it signed are followed.
    let aggregatorKey: VerifyingKey?
    /// The central round followed; nil until its retained announcement arrived.
    public private(set) var announcement: RoundAnnouncement?
    /// The newest global model received: the round's base once its hash matches.
    var model: GlobalModel?
    /// The spec of the last model, parsed once: every model of a job carries the same one.
    private var modelSpecs = ModelSpecCache()
    /// The round whose updates are folded (its base model is here); nil until then.
    var foldingRound: Int?
    var strategy = FedAvg()
    /// Agents whose updates count in the followed round, with their example counts.
    var accepted: [String: Int] = [:]
    /// Whether the followed round's partial was sent.
    public private(set) var sent = false
    /// The round the checkpoint and spool hold.
    var checkpointRound: Int?
    /// The partial must go again (the central aggregator does not hold it).
    var resendWanted = false
    /// Restarted before its partial went: once the spool is replayed, it says whose updates it
    /// holds, so agents whose update was lost with the killed process send it again.
    var receiptWanted = false
    var agents: OnlineAgents
    /// The site's agents when it knows them (allowed, or enrolled): the partial waits for all of
    /// them. An open fleet waits for the agents online, which may be fewer than will come.
    let knownFleet: Int?
    /// An ingest shard's view of the agents online: the last round each has served, by its status,
    /// and those that have not served the followed round yet (kept apart: a check per status must
    /// not cost a pass over the fleet).
    var served: [String: Int] = [:]
    var yetToServe: Set<String> = []
    /// Updates that came before their round's model, and the spool's records after a restart.
    var waiting: [Waiting] = []
    var waitingBytes = 0
    /// Most bytes of updates held while a round's model is missing.
    static let maxWaitingBytes = 256 << 20

    struct Waiting {
        var agent: String
        var round: Int
        var payload: [UInt8]
        var signature: String?
        /// Replayed from this site's own spool: validated (signature included) before, not spooled again.
        var spooled: Bool
    }

    /// A site aggregator for `job`, resuming from its checkpoint and the spooled updates of the
    /// checkpoint's round, if it has them.
    public init(
        job: String, settings: SiteSettings, signers: [String: VerifyingKey]? = nil, aggregatorKey: VerifyingKey? = nil,
        checkpoint: SiteCheckpoint? = nil, spooled: [(agent: String, payload: [UInt8])] = []
    ) throws(ProtocolError) {
        try Identifier.validate(job, kind: "job")
        try settings.validate()
        self.job = job
        self.settings = settings
        self.signers = signers
        self.aggregatorKey = aggregatorKey
        agents = OnlineAgents(maxAgents: settings.maxAgents, allowed: settings.allowedAgents.map(Set.init))
        knownFleet = agents.allowed?.count ?? signers?.count
        if let checkpoint {
            // A shard says nothing of what it holds: a resent update could reach another shard and count twice.
            (checkpointRound, sent, receiptWanted) = (checkpoint.round, checkpoint.sent, !checkpoint.sent && settings.ingestGroup == nil)
            waiting = spooled.map { Waiting(agent: $0.agent, round: checkpoint.round, payload: $0.payload, signature: nil, spooled: true) }
        }
    }

    /// Agents whose updates count in the followed round.
    public var acceptedAgents: [String] { accepted.keys.sorted() }

    /// The central aggregator's retained round arrived (or changed), with its signature if any.
    public mutating func roundReceived(_ payload: [UInt8], signature: String?, now: Double) -> [SiteAction] {
        if let refusal = unsigned(signature, SignedStatement.announcement(job: job, payload: payload), what: "round announcement") {
            return [.ignored(refusal)]
        }
        let next: RoundAnnouncement
        do {
            next = try ProtocolJSON.decode(RoundAnnouncement.self, from: payload)
        } catch {
            return [.ignored("round announcement refused: \(error)")]
        }
        guard next.job == job else { return [.ignored("round announcement is for job '\(next.job)'")] }
        guard next.sites?.contains(settings.name) == true else {
            return [.ignored("round \(next.round) of the central aggregator does not list site '\(settings.name)' in its sites")]
        }
        if let held = announcement, next.precedes(held) { return [.ignored("round \(next.round) is older than the one followed (a replay)")] }
        if announcement?.round != next.round { yetToServe = Set(served.filter { $0.value < next.round }.keys) }
        announcement = next
        var actions: [SiteAction] = []
        if checkpointRound != next.round {
            // A new round: what the last one held is done with (sent, or the round closed without it).
            (accepted, sent, resendWanted, receiptWanted, foldingRound, checkpointRound) = ([:], false, false, false, nil, next.round)
            dropWaiting(before: next.round)
            actions.append(.checkpoint(SiteCheckpoint(round: next.round, sent: false)))
        } else if sent, let received = next.received, !received.contains(settings.name) {
            // The central aggregator restarted (or extended the round) without this site's partial.
            resendWanted = true
        }
        return actions + prepare(now: now)
    }

    /// The central aggregator's retained model arrived, with its signature if any.
    public mutating func modelReceived(_ payload: [UInt8], signature: String?, now: Double) -> [SiteAction] {
        // One hash serves the signature's statement and the model's identity.
        let digest = ModelCodec.sha256(payload)
        if let refusal = unsigned(signature, SignedStatement.model(job: job, sha256: digest), what: "global model") {
            return [.ignored(refusal)]
        }
        do {
            let received = try ModelCodec.decodeModel(payload, specs: &modelSpecs, sha256: digest)
            guard received.job == job else { return [.ignored("global model is for job '\(received.job)'")] }
            model = received
        } catch {
            return [.ignored("global model refused: \(error)")]
        }
        return prepare(now: now)
    }

    /// An agent's update arrived on `round/<round>/update/<agent>` of the site broker.
    public mutating func receive(agent: String, round: Int, payload: [UInt8], signature: String? = nil, now: Double) -> [SiteAction] {
        func reject(_ reason: RejectionReason, _ detail: String) -> [SiteAction] {
            [.rejected(Rejection(agent: agent, round: round, reason: reason, detail: detail))]
        }
        let followed = announcement?.round ?? 0
        if round < followed { return reject(.closedRound, "round \(round) is closed; round \(followed) is open") }
        // Only the next round's updates can come before their round (an agent that saw it first): later ones are not held.
        if announcement != nil && round > followed + 1 { return reject(.wrongRound, "round \(round) is not open; round \(followed) is") }
        guard let announcement, let model, foldingRound == round else {
            // Its round (or its model) has not come down the bridge yet: held until it does.
            guard waiting.count < settings.maxAgents, waitingBytes + payload.count <= Self.maxWaitingBytes else {
                return reject(.wrongRound, "round \(round) is not open at this site yet, and it holds too many early updates")
            }
            waiting.append(Waiting(agent: agent, round: round, payload: payload, signature: signature, spooled: false))
            waitingBytes += payload.count
            return []
        }
        if sent { return reject(.closedRound, "site '\(settings.name)' already sent its partial of round \(round)") }
        let validator = UpdateValidator(
            announcement: announcement, model: model, allowedAgents: agents.allowed, accepted: accepted, selected: nil, signers: signers,
            maxExamples: settings.maxExamplesPerUpdate)
        switch validator.validate(agent: agent, round: round, payload: payload, signature: signature) {
        case .failure(let rejection):
            return [.rejected(rejection)]
        case .success(let update):
            if let refusal = fold(update) { return [.rejected(refusal)] }
            return [.spool(round: round, agent: agent, payload: payload)] + closeIfDue(now: now)
        }
    }

    /// An agent's retained status arrived: the agents online at the site are the partial's target.
    public mutating func statusReceived(agent: String, payload: [UInt8], now: Double) -> [SiteAction] {
        guard let status = try? ProtocolJSON.decode(AgentStatus.self, from: payload), status.agent == agent else {
            return [.ignored("status of \(agent) ignored: not a valid status of this agent")]
        }
        if let reason = agents.track(status) { return [.ignored("status of \(agent) ignored: \(reason)")] }
        if settings.ingestGroup != nil {
            // Online agents that will train: an agent out of budget or gone is not waited for.
            let waitedFor = agents.online.contains(agent) && status.state != .budgetExhausted
            served[agent] = waitedFor ? status.lastRound : nil
            if waitedFor && status.lastRound < announcement?.round ?? 0 { yetToServe.insert(agent) } else { yetToServe.remove(agent) }
        }
        return closeIfDue(now: now)
    }

    /// Time passed: the cutoff may have come.
    public mutating func tick(now: Double) -> [SiteAction] {
        closeIfDue(now: now)
    }

    /// Starts folding the followed round once its base model is here, and takes the updates that waited for it.
    private mutating func prepare(now: Double) -> [SiteAction] {
        guard let announcement, let model, model.sha256 == announcement.baseModelSHA256, foldingRound != announcement.round else {
            return resendIfWanted(now: now)
        }
        strategy = FedAvg(weighting: announcement.weighting ?? .examples)
        strategy.begin(global: model.parameters)
        foldingRound = announcement.round
        var actions: [SiteAction] = []
        let held = waiting
        (waiting, waitingBytes) = ([], 0)
        for update in held {
            if update.round > announcement.round {
                waiting.append(update)
                waitingBytes += update.payload.count
            } else if update.spooled {
                replay(update, announcement: announcement, model: model)
            } else {
                actions += receive(agent: update.agent, round: update.round, payload: update.payload, signature: update.signature, now: now)
            }
        }
        if receiptWanted {
            receiptWanted = false
            actions.append(.publishReceipt(SiteReceipt(job: job, site: settings.name, round: announcement.round, received: acceptedAgents)))
        }
        return actions + resendIfWanted(now: now) + closeIfDue(now: now)
    }

    /// A spooled update passed validation (signature included) before it was spooled: it folds again, unverified.
    private mutating func replay(_ update: Waiting, announcement: RoundAnnouncement, model: GlobalModel) {
        let validator = UpdateValidator(
            announcement: announcement, model: model, allowedAgents: nil, accepted: accepted, selected: nil, signers: nil,
            maxExamples: settings.maxExamplesPerUpdate)
        if case .success(let accepted) = validator.validate(agent: update.agent, round: update.round, payload: update.payload) {
            _ = fold(accepted)
        }
    }

    private mutating func fold(_ update: AcceptedUpdate) -> Rejection? {
        do {
            try strategy.add(delta: update.delta, examples: update.examples)
        } catch {
            return Rejection(agent: update.agent, round: update.round, reason: .tensorMismatch, detail: "the strategy refused it: \(error)")
        }
        accepted[update.agent] = update.examples
        return nil
    }

    /// Sends the partial when every online agent (or `target_updates`) is in, or at the cutoff with `min_updates`.
    private mutating func closeIfDue(now: Double) -> [SiteAction] {
        guard let announcement, foldingRound == announcement.round, !sent else { return [] }
        let cutoff = announcement.deadline - settings.marginSeconds
        if settings.ingestGroup != nil {
            // A shard's share is done when every agent it waits for has served the round: each
            // publishes its update before the status that says so, so the update came first.
            let done = !served.isEmpty && yetToServe.isEmpty
            return done || now >= cutoff ? sendPartial(now: now) : []
        }
        guard !accepted.isEmpty else { return [] }
        let target = settings.targetUpdates ?? knownFleet ?? max(1, agents.candidates.count)
        guard accepted.count >= target || (now >= cutoff && accepted.count >= settings.minUpdates) else { return [] }
        return sendPartial(now: now)
    }

    private mutating func resendIfWanted(now: Double) -> [SiteAction] {
        guard resendWanted, let announcement, foldingRound == announcement.round, !accepted.isEmpty || settings.ingestGroup != nil else {
            return []
        }
        resendWanted = false
        return [.ignored("round \(announcement.round): the central aggregator does not hold this site's partial; sending it again")]
            + sendPartial(now: now)
    }

    private mutating func sendPartial(now: Double) -> [SiteAction] {
        guard let announcement else { return [] }
        let round = announcement.round
        let partial: (meanDelta: Parameters, weight: Int)
        if accepted.isEmpty, let model {
            partial = (model.parameters.zeros(), 0)  // an ingest shard whose share was empty
        } else {
            do {
                partial = try strategy.partial()
            } catch {
                return [.ignored("round \(round): no partial to send (\(error))")]
            }
        }
        let payload = ModelCodec.encodePartial(
            partial.meanDelta, job: job, round: round, site: settings.name, baseSHA256: announcement.baseModelSHA256, weight: partial.weight,
            updates: accepted.count)
        sent = true
        // Queued behind a bridge outage, a partial stays useful while the central round may be
        // extended; past that the central aggregator refuses it as late anyway.
        let expiry = MessageExpiry.seconds(until: announcement.deadline + 3600, now: now)
        return [
            .publishPartial(round: round, baseSHA256: announcement.baseModelSHA256, payload: payload, updates: accepted.count, expirySeconds: expiry),
            .checkpoint(SiteCheckpoint(round: round, sent: true)),
        ]
    }

    private mutating func dropWaiting(before round: Int) {
        waiting.removeAll { $0.round < round }
        waitingBytes = waiting.reduce(0) { $0 + $1.payload.count }
    }

    private func unsigned(_ signature: String?, _ statement: @autoclosure () -> [UInt8], what: String) -> String? {
        guard let aggregatorKey else { return nil }
        guard let signature else { return "\(what) refused: not signed, and this site trusts only its central aggregator's key" }
        return aggregatorKey.verifies(signature, for: statement()) ? nil : "\(what) refused: the signature is not the central aggregator's"
    }
}
