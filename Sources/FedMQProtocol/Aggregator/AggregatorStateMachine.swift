import FedMQCore

/// The aggregator's round logic: events in (update received, time passed, start, resume),
/// actions out (spool, checkpoint, publish). No I/O and no clock: `now` (seconds since 1970)
/// comes with every event, so quorum, deadlines and duplicates are tested deterministically.
///
/// A round: open (announce, retained) -> collect (validate, spool, fold into the strategy)
/// -> close at `targetUpdates`, or at the deadline with at least `minUpdates` (else extend
/// the deadline and say so) -> new model -> checkpoint, publish model, next round, metrics.
public struct AggregatorStateMachine {
    public let job: String
    public let policy: RoundPolicy
    public internal(set) var model: GlobalModel
    public internal(set) var modelBytes: [UInt8]
    public internal(set) var announcement: RoundAnnouncement {
        didSet { selectedAgents = announcement.selected.map(Set.init) }
    }
    /// `announcement.selected` as a set, kept for the validator: a check per update must not
    /// cost a pass over the whole cohort.
    private(set) var selectedAgents: Set<String>?
    public internal(set) var finished = false
    var strategy: any AggregationStrategy
    var accepted: [String: Int] = [:]
    /// With sites: each accepted partial's count of agents' updates.
    var partialUpdates: [String: Int] = [:]
    var rejected: [String: Int] = [:]
    var bytesReceived = 0
    let evaluator: (@Sendable (Parameters) -> Evaluation?)?
    /// The published model's privacy so far (with differential privacy configured).
    public internal(set) var accountant: RDPAccountant?
    /// Noise for central DP: the system's CSPRNG in production, a seeded generator in tests.
    var random: any RandomNumberGenerator
    /// Enrolled agents' keys (with sites: the site aggregators'); with them, only updates (or
    /// partials) their owners signed count.
    let signers: [String: VerifyingKey]?
    /// The last closed round's summary, kept in every checkpoint.
    var lastMetrics: RoundMetrics?
    /// Agents' evaluations of the current global model (federated evaluation).
    var evaluations: EvaluationCollector
    /// Agents whose retained status says they are connected (for client selection).
    var agents: OnlineAgents
    public var online: Set<String> { agents.online }
    /// The open round's secure aggregation, in secure mode.
    public internal(set) var secAgg: SecAggServer?
    /// When the secure-aggregation stage now open ends.
    var stageDeadline = 0.0
    /// The key holder's identity key (homomorphic jobs): its public key and sums must carry its signature.
    let keyholder: VerifyingKey?
    /// The key holder's current Paillier key, once it arrived.
    var homomorphicKey: HomomorphicKey?
    /// The open homomorphic round's product and contributions (with the key).
    var homomorphic: HomomorphicCollection?
    /// Encrypted updates that came before the key holder's key (replayed from the spool, or early).
    var waitingForKey: [(agent: String, round: Int, payload: [UInt8], signature: String?, spooled: Bool)] = []
    let topics: Topics

    /// A fresh job: `parameters` become the round-0 model and round 1 opens at `now`.
    public init(
        job: String, policy: RoundPolicy, spec: ModelSpec, initial parameters: Parameters, now: Double,
        evaluator: (@Sendable (Parameters) -> Evaluation?)? = nil, signers: [String: VerifyingKey]? = nil, keyholder: VerifyingKey? = nil,
        publicData: Dataset? = nil, random: any RandomNumberGenerator = SystemRandomNumberGenerator()
    ) throws(ProtocolError) {
        let (model, bytes) = try JobStart.initialModel(job: job, policy: policy, spec: spec, parameters: parameters)
        try self.init(
            job: job, policy: policy, model: model, modelBytes: bytes,
            announcement: Self.announce(job: job, round: 1, policy: policy, base: model.sha256, now: now),
            accountant: policy.privacy == nil ? nil : RDPAccountant(), evaluator: evaluator, signers: signers, keyholder: keyholder,
            publicData: publicData, random: random)
        if policy.selection != nil { announcement.selected = [] }  // picked as agents come online
        strategy.begin(global: parameters)
        openSecureRound(now: now)
    }

    /// What a fresh start and a resume share: every stored property, the strategy, and the
    /// checks of a secure-aggregation policy against the enrolment.
    init(
        job: String, policy: RoundPolicy, model: GlobalModel, modelBytes: [UInt8], announcement: RoundAnnouncement,
        accountant: RDPAccountant?, evaluator: (@Sendable (Parameters) -> Evaluation?)?, signers: [String: VerifyingKey]?,
        keyholder: VerifyingKey?, publicData: Dataset? = nil, random: any RandomNumberGenerator
    ) throws(ProtocolError) {
        self.keyholder = keyholder
        self.job = job
        topics = try Topics(job: job)
        self.policy = policy
        self.model = model
        self.modelBytes = modelBytes
        self.announcement = announcement
        selectedAgents = announcement.selected.map(Set.init)
        self.accountant = accountant
        self.evaluator = evaluator
        self.signers = signers
        self.random = random
        evaluations = EvaluationCollector(job: job)
        agents = OnlineAgents(maxAgents: policy.maxAgents, allowed: policy.allowedAgents.map(Set.init))
        strategy = try Self.makeStrategy(policy, spec: model.spec, publicData: publicData)
        try requireEnrolmentForSecureAggregation()
        try requireEnrolmentForHomomorphic()
    }

    /// Actions that (re)establish the retained state: checkpoint (fresh start) and publish.
    public func startActions(fresh: Bool) -> [AggregatorAction] {
        var actions: [AggregatorAction] = []
        if fresh {
            actions.append(.checkpoint(checkpoint(), model: modelBytes))
        }
        actions.append(.publishModel(modelBytes))
        // After a restart, say whose updates are held, so agents whose update was lost resend it.
        actions.append(finished ? .finished : .publishRound(fresh ? announcement : receivedSoFar()))
        return actions
    }

    /// Agents whose updates count in the open round.
    public var acceptedAgents: [String] { accepted.keys.sorted() }

    /// An update arrived on `round/<round>/update/<agent>`, with its `fedmq-signature` property if any.
    public mutating func receive(agent: String, round: Int, payload: [UInt8], signature: String? = nil, now: Double) -> [AggregatorAction] {
        bytesReceived += payload.count
        guard !finished else {
            return reject(Rejection(agent: agent, round: round, reason: .closedRound, detail: "the job is finished"))
        }
        guard secAgg == nil else {
            return reject(Rejection(agent: agent, round: round, reason: .secureAggregation, detail: "this job takes masked updates only"))
        }
        if policy.homomorphic != nil { return receiveEncrypted(agent: agent, round: round, payload: payload, signature: signature, now: now) }
        if policy.sites != nil {
            return reject(
                Rejection(
                    agent: agent, round: round, reason: .wrongContributor,
                    detail: "this central aggregator folds site partials; agents send their updates to their site's aggregator"))
        }
        return accept(agent: agent, round: round, payload: payload, signature: signature, now: now)
    }

    /// Validates an update or partial, folds and spools it, and closes the round at its target.
    mutating func accept(agent: String, round: Int, payload: [UInt8], signature: String?, now: Double) -> [AggregatorAction] {
        switch validator().validate(agent: agent, round: round, payload: payload, signature: signature) {
        case .failure(let rejection):
            return reject(rejection)
        case .success(let update):
            if let failure = fold(update) { return reject(failure) }
            var actions: [AggregatorAction] = [.spool(round: round, agent: agent, payload: payload)]
            if accepted.count >= target { actions += close(now: now) }
            return actions
        }
    }

    /// The updates that close the round early: the policy's target, or every selected agent
    /// when fewer were selected.
    var target: Int {
        guard let selected = announcement.selected, !selected.isEmpty else { return announcement.targetUpdates }
        return min(announcement.targetUpdates, selected.count)
    }

    /// Time passed: close a round that has its target (after a restart) or whose deadline is
    /// over with the quorum; extend it otherwise.
    public mutating func tick(now: Double) -> [AggregatorAction] {
        guard !finished else { return [] }
        if secAgg != nil { return advanceSecureRound(now: now) }
        if let actions = tickHomomorphic(now: now) { return actions }
        // A restart can resume with the target already spooled (killed before closing): close now.
        if accepted.count >= target { return close(now: now) }
        guard now >= announcement.deadline else { return [] }
        if accepted.count >= announcement.minUpdates { return close(now: now) }
        announcement.deadline = now + policy.extensionSeconds
        announcement.extensions += 1
        announcement.revision = (announcement.revision ?? 0) + 1
        // The model goes out again too: a retained copy lost or replaced on the broker would
        // otherwise keep agents from training until the round closed.
        return [
            .checkpoint(checkpoint(), model: modelBytes),
            .publishModel(modelBytes),
            .publishRound(receivedSoFar()),
            .extended(round: announcement.round, accepted: accepted.count, deadline: announcement.deadline),
        ]
    }

    /// The open round's announcement naming the agents whose updates count so far.
    func receivedSoFar() -> RoundAnnouncement {
        var republished = announcement
        republished.received = acceptedAgents
        return republished
    }

    func validator(checkingSignatures: Bool = true) -> UpdateValidator {
        var validator = UpdateValidator(
            announcement: announcement, model: model, allowedAgents: policy.sites.map(Set.init) ?? agents.allowed, accepted: accepted,
            selected: selectedAgents, signers: checkingSignatures ? signers : nil, maxExamples: policy.maxExamplesPerUpdate)
        if policy.sites != nil { validator.contributor = .site }
        return validator
    }

    /// Adds an accepted update to the round; a strategy that refuses it makes a rejection
    /// (the update is then neither counted nor spooled).
    mutating func fold(_ update: AcceptedUpdate) -> Rejection? {
        do {
            // An empty partial (an ingest shard got no update) counts as the shard's report, and folds nothing.
            if update.updates > 0 { try strategy.add(delta: update.delta, examples: update.examples) }
        } catch {
            return Rejection(agent: update.agent, round: update.round, reason: .tensorMismatch, detail: "the strategy refused it: \(error)")
        }
        accepted[update.agent] = update.examples
        if policy.sites != nil { partialUpdates[update.agent] = update.updates }
        return nil
    }

    mutating func reject(_ rejection: Rejection) -> [AggregatorAction] {
        rejected[rejection.reason.rawValue, default: 0] += 1
        return [.rejected(rejection)]
    }

    /// The configured strategy, FedDF on `publicData` with server distillation, or FedAvg with the
    /// job's weighting; a strategy that cannot be made is an error.
    static func makeStrategy(_ policy: RoundPolicy, spec: ModelSpec, publicData: Dataset? = nil) throws(ProtocolError) -> any AggregationStrategy {
        do {
            if let settings = policy.serverDistillation {
                guard let publicData else { throw ProtocolError.invalidConfiguration("server_distillation needs the aggregator's public_csv") }
                return try EnsembleDistillation(settings: settings, spec: spec, publicData: publicData, weighting: policy.weighting)
            }
            // Partials carry their weight (their agents' examples, or count) as their example count.
            let weighting = policy.sites == nil ? policy.weighting : .examples
            guard let configured = policy.strategy else { return FedAvg(weighting: weighting) }
            return try configured.make(weighting: weighting)
        } catch let error as CoreError {
            throw .core(error)
        } catch let error as ProtocolError {
            throw error
        } catch {
            throw .invalidConfiguration("\(error)")
        }
    }
}
