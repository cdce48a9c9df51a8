import FedMQCore

/// An update that passed every check.
public struct AcceptedUpdate: Sendable, Equatable {
    public var agent: String
    public var round: Int
    public var examples: Int
    public var delta: Parameters
    public var payloadBytes: Int
    /// Agents' updates behind it: 1 for an agent's update, the site's count for a partial.
    public var updates = 1
}

/// Who sends what a validator checks: agents their updates on `round/<r>/update/<agent>`, or
/// site aggregators their partial aggregates on `round/<r>/partial/<site>` (then `agent`
/// names the site, and the checks are the same but for metadata and the signed statement).
public enum Contributor: Sendable, Equatable {
    case agent
    case site

    var noun: String { self == .agent ? "agent" : "site" }
    var kind: String { self == .agent ? "update" : "partial" }
}

/// Checks an update against the open round, cheapest checks first, and names the first
/// failure. Pure: no I/O, no clock.
public struct UpdateValidator: Sendable {
    public var announcement: RoundAnnouncement
    public var model: GlobalModel
    /// Agents allowed to send updates; nil allows any agent id.
    public var allowedAgents: Set<String>?
    /// Agents already counted this round, with their example counts (only membership is checked).
    /// A dictionary, as the state machine keeps it: a validator per update costs no copy.
    public var accepted: [String: Int]
    /// The agents the round selected (`announcement.selected` as a set), nil when it selects none.
    public var selected: Set<String>?
    /// Enrolled agents' keys: with them, every update must carry its agent's signature.
    public var signers: [String: VerifyingKey]?
    /// The largest example count an update is weighted by: agents report their own counts, so
    /// a larger one is capped here rather than trusted.
    public var maxExamples: Int
    /// Agents' updates, or sites' partials.
    public var contributor = Contributor.agent

    /// Checks updates against the open round, its base model and the fleet's keys.
    public init(
        announcement: RoundAnnouncement, model: GlobalModel, allowedAgents: Set<String>?, accepted: [String: Int] = [:],
        signers: [String: VerifyingKey]? = nil, maxExamples: Int = RoundPolicy(targetUpdates: 1, minUpdates: nil).maxExamplesPerUpdate
    ) {
        self.init(
            announcement: announcement, model: model, allowedAgents: allowedAgents, accepted: accepted,
            selected: announcement.selected.map(Set.init), signers: signers, maxExamples: maxExamples)
    }

    /// The same, with `announcement.selected` already as a set: the state machine keeps it, so
    /// a validator per update costs no pass over the cohort.
    init(
        announcement: RoundAnnouncement, model: GlobalModel, allowedAgents: Set<String>?, accepted: [String: Int], selected: Set<String>?,
        signers: [String: VerifyingKey]?, maxExamples: Int
    ) {
        self.announcement = announcement
        self.selected = selected
        self.model = model
        self.allowedAgents = allowedAgents
        self.accepted = accepted
        self.signers = signers
        self.maxExamples = maxExamples
    }

    /// The checks before any decoding, so nothing from an unauthenticated sender reaches a
    /// parser: size, sender, round, duplicate, selection and (in an enrolled fleet) the signature.
    public func checkEnvelope(agent: String, round: Int, payload: [UInt8], signature: String?) -> Rejection? {
        func reject(_ reason: RejectionReason, _ detail: String) -> Rejection {
            Rejection(agent: agent, round: round, reason: reason, detail: detail)
        }
        let open = announcement.round
        if payload.count > maxPayloadBytes {
            return reject(.tooLarge, "\(payload.count) bytes > \(maxPayloadBytes)")
        }
        if let allowedAgents, !allowedAgents.contains(agent) { return reject(.senderNotAllowed, "\(contributor.noun) is not enrolled") }
        if round < open { return reject(.closedRound, "round \(round) is closed; round \(open) is open") }
        if round > open { return reject(.wrongRound, "round \(round) is not open; round \(open) is") }
        if accepted[agent] != nil { return reject(.duplicate, "a \(contributor.kind) from this \(contributor.noun) already counts in round \(open)") }
        if let selected, !selected.contains(agent) {
            return reject(.notSelected, "round \(open) was opened for \(selected.count) selected agents, not this one")
        }
        if let signers {
            guard let signature else {
                return reject(.unsigned, "enrolled fleets sign every \(contributor.kind) (user property \(SignedStatement.property))")
            }
            guard let key = signers[agent] else { return reject(.unknownSigner, "no enrolled key for this \(contributor.noun)") }
            let (job, base) = (announcement.job, announcement.baseModelSHA256)
            let statement =
                contributor == .agent
                ? SignedStatement.update(job: job, round: open, baseSHA256: base, agent: agent, payload: payload)
                : SignedStatement.partial(job: job, round: open, baseSHA256: base, site: agent, payload: payload)
            if !key.verifies(signature, for: statement) {
                return reject(.badSignature, "the signature does not match job, round \(open), base model, \(contributor.noun) and payload")
            }
        }
        return nil
    }

    /// - Parameter signature: the base64 `fedmq-signature` user property, if the message had one.
    public func validate(agent: String, round: Int, payload: [UInt8], signature: String? = nil) -> Result<AcceptedUpdate, Rejection> {
        func reject(_ reason: RejectionReason, _ detail: String) -> Result<AcceptedUpdate, Rejection> {
            .failure(Rejection(agent: agent, round: round, reason: reason, detail: detail))
        }
        if let rejection = checkEnvelope(agent: agent, round: round, payload: payload, signature: signature) { return .failure(rejection) }
        let open = announcement.round
        let file: SafetensorsFile
        do {
            file = try SafetensorsDecoder.decode(payload)
        } catch {
            return reject(.undecodable, "\(error)")
        }
        let metadata = file.metadata
        if metadata[ModelCodec.Key.job] != announcement.job {
            return reject(.wrongJob, "metadata job '\(metadata[ModelCodec.Key.job]?.prefix(80) ?? "")' is not '\(announcement.job)'")
        }
        if metadata[ModelCodec.Key.round] != "\(open)" { return reject(.wrongRound, "metadata round does not match the topic") }
        let senderKey = contributor == .agent ? ModelCodec.Key.agent : ModelCodec.Key.site
        if metadata[senderKey] != agent { return reject(.senderMismatch, "metadata \(contributor.noun) does not match the topic") }
        guard metadata[ModelCodec.Key.kind] == contributor.kind,
            let examples = metadata[ModelCodec.Key.examples].flatMap(Int.init), examples >= 0, examples < 1 << 40
        else {
            return reject(.badMetadata, "fedmq.kind must be '\(contributor.kind)' and fedmq.examples a positive integer")
        }
        var updates = 1
        if contributor == .site {
            // An ingest shard whose share of the round was empty says so with an empty partial.
            guard let count = metadata[ModelCodec.Key.updates].flatMap(Int.init), (0...1 << 30).contains(count), (count == 0) == (examples == 0)
            else {
                return reject(.badMetadata, "a partial's fedmq.updates must count agents' updates, and be 0 exactly when its weight is")
            }
            updates = count
        } else if examples == 0 {
            return reject(.badMetadata, "fedmq.kind must be '\(contributor.kind)' and fedmq.examples a positive integer")
        }
        if metadata[ModelCodec.Key.baseSHA256] != announcement.baseModelSHA256 {
            return reject(.baseMismatch, "trained from another model than \(announcement.baseModelSHA256.prefix(12))")
        }
        var delta: Parameters
        do {
            delta = try ModelCodec.delta(of: file, like: model.parameters)
        } catch {
            return reject(.tensorMismatch, "\(error)")
        }
        if !delta.allFinite { return reject(.nonFinite, "the update holds NaN or infinite values") }
        // An analytics vector is bounded by its queries (C), with or without privacy.
        let contribution = announcement.analytics?.contributionBound
        if let privacy = announcement.privacy {
            let norm = delta.l2Norm
            let bound = privacy.acceptableNorm(dimension: delta.count, contributionBound: contribution)
            if norm > bound * 1.02 {
                return reject(
                    .normTooLarge, "L2 norm \(norm) exceeds what clipping to \(contribution ?? privacy.clipNorm) plus noise allows (\(bound))")
            }
            // Central mode accounts exactly C: the slack allowed for encoding is clipped away here.
            if privacy.mode == .central { delta.clip(norm: contribution ?? privacy.clipNorm) }
        } else if let bound = announcement.normBound ?? contribution {
            let norm = delta.l2Norm
            // Encoding rounds a clipped delta; allow for that, not for more.
            let tolerance = file.encodings.values.contains(.int8) ? 1.02 : 1.001
            if norm > bound * tolerance { return reject(.normTooLarge, "L2 norm \(norm) exceeds \(bound)") }
            delta.clip(norm: bound)
        }
        // A partial's weight is its agents' examples (or count): each of them is capped.
        let cap = maxExamples.multipliedReportingOverflow(by: updates)
        let weight = min(examples, cap.overflow ? examples : cap.partialValue)
        return .success(AcceptedUpdate(agent: agent, round: open, examples: weight, delta: delta, payloadBytes: payload.count, updates: updates))
    }

    /// The largest payload taken: the round's bound for agents' updates; a site's partial is a
    /// dense float32 delta whatever encoding the agents use, so it may take that much too.
    var maxPayloadBytes: Int {
        contributor == .agent ? announcement.maxUpdateBytes : max(announcement.maxUpdateBytes, 4 * model.parameters.count + (1 << 16))
    }
}
