import FedMQCore

/// The aggregator's logic for asynchronous jobs (FedBuff: Nguyen et al., AISTATS 2022): agents
/// train whenever they can on the newest model they hold, and each update names the round it
/// was trained for. Round r trains on version r - 1 (the model published when r opened);
/// an update of round r' counts in open round r when its staleness s = r - r' is at most
/// `max_staleness`, scaled by the staleness weight w(s), and folded into the buffer. The
/// `target_updates`-th update closes the buffer: the strategy (the mean, or a server step with
/// learning rate and momentum, `fedavgm`) makes version r, published retained, and round r + 1
/// opens. Each agent counts at most once per buffer, and never twice for the same version.
///
/// No I/O, no clock: like the round machine, events carry `now` and actions go to the runtime.
public struct BufferedAggregatorStateMachine: AggregatorMachine {
    public let job: String
    public let policy: RoundPolicy
    let settings: AsynchronousSettings
    public internal(set) var model: GlobalModel
    public internal(set) var modelBytes: [UInt8]
    public internal(set) var announcement: RoundAnnouncement
    public internal(set) var finished = false
    var strategy: any AggregationStrategy
    /// The open buffer: each counted agent's staleness and weight, and its example count.
    var buffer: [String: (staleness: Int, weight: Double, examples: Int)] = [:]
    var rejected: [String: Int] = [:]
    var bytesReceived = 0
    let evaluator: (@Sendable (Parameters) -> Evaluation?)?
    /// The published model's privacy so far (with differential privacy configured).
    public internal(set) var accountant: RDPAccountant?
    var random: any RandomNumberGenerator
    /// Enrolled agents' keys; with them, only updates their agents signed count.
    let signers: [String: VerifyingKey]?
    var lastMetrics: RoundMetrics?
    var evaluations: EvaluationCollector
    var agents: OnlineAgents
    public var online: Set<String> { agents.online }
    /// Recent rounds' base models and each agent's newest counted round.
    public internal(set) var history: VersionHistory
    let topics: Topics

    /// A fresh job: `parameters` become version 0 and round 1 opens at `now`.
    public init(
        job: String, policy: RoundPolicy, spec: ModelSpec, initial parameters: Parameters, now: Double,
        evaluator: (@Sendable (Parameters) -> Evaluation?)? = nil, signers: [String: VerifyingKey]? = nil,
        random: any RandomNumberGenerator = SystemRandomNumberGenerator()
    ) throws(ProtocolError) {
        let (model, bytes) = try JobStart.initialModel(job: job, policy: policy, spec: spec, parameters: parameters)
        try self.init(
            job: job, policy: policy, model: model, modelBytes: bytes, round: 1, now: now,
            accountant: policy.privacy == nil ? nil : RDPAccountant(), evaluator: evaluator, signers: signers, random: random)
    }

    /// Resumes from a checkpoint and the updates spooled for its open buffer.
    public init(
        job: String, policy: RoundPolicy, checkpoint: AggregatorCheckpoint, modelBytes: [UInt8],
        spooled: [(agent: String, payload: [UInt8])], evaluator: (@Sendable (Parameters) -> Evaluation?)? = nil,
        signers: [String: VerifyingKey]? = nil, random: any RandomNumberGenerator = SystemRandomNumberGenerator()
    ) throws(ProtocolError) {
        let model = try JobStart.resumedModel(job: job, policy: policy, checkpoint: checkpoint, modelBytes: modelBytes)
        guard let history = checkpoint.asynchronous, history.newestRound == checkpoint.announcement.round else {
            throw .invalidModel("the checkpoint's version history does not end at its open round \(checkpoint.announcement.round)")
        }
        try self.init(
            job: job, policy: policy, model: model, modelBytes: modelBytes, round: checkpoint.announcement.round,
            now: checkpoint.announcement.openedAt, accountant: policy.privacy == nil ? nil : (checkpoint.accountant ?? RDPAccountant()),
            evaluator: evaluator, signers: signers, random: random)
        announcement = checkpoint.announcement
        self.history = history
        finished = checkpoint.finished
        lastMetrics = checkpoint.lastMetrics
        if let state = checkpoint.strategyState { strategy.restore(carriedState: state) }
        strategy.begin(global: model.parameters)
        for (agent, payload) in spooled {
            // Spooled updates passed every check (signature included) before they were written; the
            // spool is the aggregator's own state, so they count again without a second check of it.
            guard let round = ModelCodec.updateRound(payload) else { continue }
            if case .success(let update) = validate(agent: agent, round: round, payload: payload, signature: nil, checkingSignatures: false) {
                _ = fold(update)
            }
        }
    }

    /// What a fresh start and a resume share.
    private init(
        job: String, policy: RoundPolicy, model: GlobalModel, modelBytes: [UInt8], round: Int, now: Double, accountant: RDPAccountant?,
        evaluator: (@Sendable (Parameters) -> Evaluation?)?, signers: [String: VerifyingKey]?, random: any RandomNumberGenerator
    ) throws(ProtocolError) {
        guard let settings = policy.asynchronous else { throw .invalidConfiguration("the policy's mode is not 'asynchronous'") }
        self.job = job
        self.policy = policy
        self.settings = settings
        self.model = model
        self.modelBytes = modelBytes
        self.accountant = accountant
        self.evaluator = evaluator
        self.signers = signers
        self.random = random
        topics = try Topics(job: job)
        evaluations = EvaluationCollector(job: job)
        agents = OnlineAgents(maxAgents: policy.maxAgents, allowed: policy.allowedAgents.map(Set.init))
        strategy = try AggregatorStateMachine.makeStrategy(policy, spec: model.spec)
        announcement = Self.announce(job: job, round: round, policy: policy, base: model.sha256, now: now)
        history = VersionHistory(round: round, baseSHA256: model.sha256)
        strategy.begin(global: model.parameters)
    }

    static func announce(job: String, round: Int, policy: RoundPolicy, base: String, now: Double) -> RoundAnnouncement {
        var announcement = AggregatorStateMachine.announce(job: job, round: round, policy: policy, base: base, now: now)
        announcement.asynchronous = policy.asynchronous
        return announcement
    }

    /// Actions that (re)establish the retained state: checkpoint (fresh start) and publish.
    public func startActions(fresh: Bool) -> [AggregatorAction] {
        var actions: [AggregatorAction] = []
        if fresh { actions.append(.checkpoint(checkpoint(), model: modelBytes)) }
        actions.append(.publishModel(modelBytes))
        // After a restart, say whose updates are held, so agents whose update was lost resend it.
        actions.append(finished ? .finished : .publishRound(fresh ? announcement : receivedSoFar()))
        return actions
    }

    public var acceptedAgents: [String] { buffer.keys.sorted() }

    func receivedSoFar() -> RoundAnnouncement {
        var republished = announcement
        republished.received = acceptedAgents
        return republished
    }

    /// An update trained for round `round` (on version `round - 1`) arrived.
    public mutating func receive(agent: String, round: Int, payload: [UInt8], signature: String?, now: Double) -> [AggregatorAction] {
        bytesReceived += payload.count
        guard !finished else {
            return reject(Rejection(agent: agent, round: round, reason: .closedRound, detail: "the job is finished"))
        }
        switch validate(agent: agent, round: round, payload: payload, signature: signature, checkingSignatures: true) {
        case .failure(let rejection):
            return reject(rejection)
        case .success(let update):
            if let failure = fold(update) { return reject(failure) }
            var actions: [AggregatorAction] = [.spool(round: announcement.round, agent: agent, payload: payload)]
            if buffer.count >= policy.targetUpdates { actions += apply(now: now) }
            return actions
        }
    }

    /// Staleness and duplicates first (this mode's own rules), then every check a round's update
    /// gets, against the announcement of the round the update was trained for.
    func validate(
        agent: String, round: Int, payload: [UInt8], signature: String?, checkingSignatures: Bool
    ) -> Result<AcceptedUpdate, Rejection> {
        func reject(_ reason: RejectionReason, _ detail: String) -> Result<AcceptedUpdate, Rejection> {
            .failure(Rejection(agent: agent, round: round, reason: reason, detail: detail))
        }
        let open = announcement.round
        if let allowed = agents.allowed, !allowed.contains(agent) { return reject(.senderNotAllowed, "agent is not enrolled") }
        if round > open { return reject(.wrongRound, "round \(round) is not open; round \(open) is the newest") }
        if open - round > settings.maxStaleness {
            return reject(.stale, "trained for round \(round), \(open - round) versions ago; max_staleness is \(settings.maxStaleness)")
        }
        if buffer[agent] != nil { return reject(.duplicate, "an update from this agent already counts in round \(open)'s buffer") }
        if let counted = history.lastCounted[agent], round <= counted {
            return reject(.duplicate, "an update from this agent for round \(counted) already counted")
        }
        guard let base = history.baseSHA256(ofRound: round) else {
            return reject(.stale, "round \(round) is older than the versions this aggregator remembers")
        }
        var trainedFor = announcement
        trainedFor.round = round
        trainedFor.baseModelSHA256 = base
        return UpdateValidator(
            announcement: trainedFor, model: model, allowedAgents: nil, signers: checkingSignatures ? signers : nil,
            maxExamples: policy.maxExamplesPerUpdate
        ).validate(agent: agent, round: round, payload: payload, signature: signature)
    }

    /// Adds an accepted update to the buffer with its staleness weight; a strategy that refuses
    /// it makes a rejection (the update is then neither counted nor spooled).
    mutating func fold(_ update: AcceptedUpdate) -> Rejection? {
        let staleness = announcement.round - update.round
        let weight = settings.staleness.weight(staleness: staleness)
        var delta = update.delta
        delta.scale(by: Float(weight))
        do {
            try strategy.add(delta: delta, examples: update.examples)
        } catch {
            return Rejection(agent: update.agent, round: update.round, reason: .tensorMismatch, detail: "the strategy refused it: \(error)")
        }
        buffer[update.agent] = (staleness, weight, update.examples)
        history.lastCounted[update.agent] = update.round
        return nil
    }

    mutating func reject(_ rejection: Rejection) -> [AggregatorAction] {
        rejected[rejection.reason.rawValue, default: 0] += 1
        return [.rejected(rejection)]
    }

    /// Time passed: apply a buffer that is full (after a restart), or that holds `min_updates`
    /// once the round's deadline has passed.
    public mutating func tick(now: Double) -> [AggregatorAction] {
        guard !finished, !buffer.isEmpty else { return [] }
        if buffer.count >= policy.targetUpdates || (now >= announcement.deadline && buffer.count >= policy.minUpdates) {
            return apply(now: now)
        }
        return []
    }

    /// What a restart resumes from: the open round, the model's hash, the accounts and the history.
    func checkpoint() -> AggregatorCheckpoint {
        var checkpoint = AggregatorCheckpoint(
            announcement: announcement, modelSHA256: model.sha256, finished: finished, accountant: accountant, lastMetrics: lastMetrics,
            strategyState: strategy.carriedState)
        checkpoint.asynchronous = history
        return checkpoint
    }

    /// Secure aggregation is round-based; an asynchronous job takes none of its messages.
    public mutating func receiveSecAgg(
        agent: String, round: Int, stage: SecAggStage, payload: [UInt8], signature: String?, now: Double
    ) -> [AggregatorAction] {
        bytesReceived += payload.count
        return reject(Rejection(agent: agent, round: round, reason: .secureAggregation, detail: "an asynchronous job has no secure aggregation"))
    }

    /// Asynchronous jobs have no sites; a partial is refused.
    public mutating func receivePartial(site: String, round: Int, payload: [UInt8], signature: String?, now: Double) -> [AggregatorAction] {
        bytesReceived += payload.count
        return reject(Rejection(agent: site, round: round, reason: .wrongContributor, detail: "an asynchronous job has no sites"))
    }

    /// Agents' evaluations of the current version count in the next version's metrics.
    public mutating func receiveEvaluation(agent: String, round: Int, payload: [UInt8]) -> [AggregatorAction] {
        evaluations.accept(agent: agent, round: round, payload: payload, modelRound: model.round, asked: policy.evaluateEvery != nil)
    }

    /// An agent's retained status: tracked for the fleet view; an agent that waits for the
    /// current model gets it again.
    public mutating func statusReceived(agent: String, payload: [UInt8], now: Double) -> [AggregatorAction] {
        agents.receive(agent: agent, payload: payload, model: model, modelBytes: modelBytes, now: now).actions
    }
}
