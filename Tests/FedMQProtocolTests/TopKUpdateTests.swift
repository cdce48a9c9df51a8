import FedMQCore
import FedMQProtocol
import Testing

@Suite("Top-k updates with error feedback")
struct TopKUpdateTests {
    /// A delta shaped like the fixture model with varied values from `seed`.
    func delta(seed: UInt64) throws -> Parameters {
        var random = SplitMix64(seed: seed)
        return try Parameters(
            Fixture.initial.tensors.map { tensor in
                try Tensor(name: tensor.name, shape: tensor.shape, values: (0..<tensor.count).map { _ in Float(random.nextUnit() * 2 - 1) })
            })
    }

    func decoded(_ payload: [UInt8]) throws -> Parameters {
        try ModelCodec.delta(of: try SafetensorsDecoder.decode(payload), like: Fixture.initial)
    }

    func maxDifference(_ a: Parameters, _ b: Parameters) -> Float {
        zip(a.tensors, b.tensors).flatMap { zip($0.values, $1.values).map { abs($0 - $1) } }.max() ?? 0
    }

    @Test("nothing is lost: what was delivered plus the residual is the sum of all deltas", arguments: TensorEncoding.allCases)
    func conservesEveryDelta(encoding: TensorEncoding) throws {
        var feedback = try ErrorFeedback(fraction: 0.25)
        var delivered = Fixture.initial.zeros()
        var total = Fixture.initial.zeros()
        for round in 1...4 {
            let delta = try delta(seed: UInt64(round))
            try total.add(delta)
            let payload = try feedback.compress(delta, bound: nil) { SafetensorsEncoder.encode(sparse: $0, encoding: encoding) }
            let sent = try decoded(payload)
            // ceil(0.25 x 6) entries of W and ceil(0.25 x 2) of b.
            #expect(sent.tensors.map { $0.values.filter { $0 != 0 }.count } == [2, 1])
            try delivered.add(sent)
        }
        var accounted = delivered
        try accounted.add(#require(feedback.residual))
        #expect(maxDifference(accounted, total) < 1e-5)
        // The residual holds real mass: the entries not sent yet.
        #expect(try #require(feedback.residual).l2Norm > 0.1)
    }

    @Test("the held-back entries go out later: an entry skipped once leads the next round")
    func heldBackEntriesGoLater() throws {
        var feedback = try ErrorFeedback(fraction: 0.5)
        let first = try Parameters([Tensor(name: "W", shape: [3, 2], values: [4, 3, 0, 0, 0, 0]), Tensor(name: "b", shape: [2], values: [0, 0])])
        let second = try Parameters([Tensor(name: "W", shape: [3, 2], values: [0, 0, 1, 1, 1, 1]), Tensor(name: "b", shape: [2], values: [0, 0])])
        let model = Fixture.initial
        func sent(_ delta: Parameters) throws -> [Float] {
            try ModelCodec.delta(
                of: try SafetensorsDecoder.decode(
                    feedback.compress(delta, bound: nil) { SafetensorsEncoder.encode(sparse: $0) }), like: model
            ).tensors[0].values
        }
        #expect(try sent(first) == [4, 3, 0, 0, 0, 0])
        #expect(try sent(first) == [4, 3, 0, 0, 0, 0])
        // Nothing was held back of W above; now 3 of the 4 ones (3 = ceil(0.5 x 6)) go, one waits.
        #expect(try sent(second) == [0, 0, 1, 1, 1, 0])
        #expect(feedback.residual?.tensors[0].values == [0, 0, 0, 0, 0, 1])
        #expect(try sent(first.zeros()) == [0, 0, 0, 0, 0, 1])
    }

    @Test("the sent update respects the norm bound; the part scaled away stays in the residual")
    func respectsNormBound() throws {
        var feedback = try ErrorFeedback(fraction: 0.5)
        let delta = try delta(seed: 9)
        let sent = try decoded(try feedback.compress(delta, bound: 0.5) { SafetensorsEncoder.encode(sparse: $0) })
        #expect(abs(sent.l2Norm - 0.5) < 1e-6)
        var accounted = sent
        try accounted.add(#require(feedback.residual))
        #expect(maxDifference(accounted, delta) < 1e-6)
    }

    @Test("under an aggregator that does not announce bitmaps (an earlier version) an agent sends U32 indices")
    func indicesForEarlierAggregators() throws {
        let aggregator = Fixture.machine()
        var announcement = aggregator.announcement
        #expect(announcement.sparseBitmaps == true)
        announcement.sparseBitmaps = nil
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0, errorFeedback: try ErrorFeedback(fraction: 0.25))
        _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
        _ = agent.roundReceived(ProtocolJSON.encode(announcement), now: 1001)
        var trained = Fixture.initial
        try trained.add(try delta(seed: 3))
        let actions = agent.trainingFinished(round: 1, trained: trained, examples: 12, now: 1010)
        guard case .publishUpdate(_, let payload, _, _) = actions[1] else {
            Issue.record("expected a publish, got \(actions)")
            return
        }
        let file = try SafetensorsDecoder.decode(payload)
        #expect(file.blobs.isEmpty)
        #expect(file.indices.mapValues(\.count) == ["W.indices": 2, "b.indices": 1])
    }

    @Test("an agent set to top-k publishes a sparse update the aggregator accepts, and records its residual")
    func agentPublishesSparse() throws {
        let aggregator = Fixture.machine()
        var agent = try AgentStateMachine(agent: "a1", job: Fixture.job, lastServedRound: 0, errorFeedback: try ErrorFeedback(fraction: 0.25))
        _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
        _ = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1001)
        var trained = Fixture.initial
        let delta = try delta(seed: 3)
        try trained.add(delta)
        let actions = agent.trainingFinished(round: 1, trained: trained, examples: 12, now: 1010)
        guard case .recordServed(1, nil, _, let residual?) = actions.first, case .publishUpdate(_, let payload, _, _) = actions[1] else {
            Issue.record("expected a record with a residual and a publish, got \(actions)")
            return
        }
        let file = try SafetensorsDecoder.decode(payload)
        #expect(file.blobs.keys.sorted() == ["W.bitmap", "b.bitmap"])  // the aggregator announces it reads bitmaps
        #expect(try file.sparseParameters(orderedAs: ["W", "b"]).tensors.map(\.indices.count) == [2, 1])
        let validator = UpdateValidator(announcement: aggregator.announcement, model: aggregator.model, allowedAgents: nil)
        let accepted = try validator.validate(agent: "a1", round: 1, payload: payload).get()
        #expect(accepted.delta.tensors.map { $0.values.filter { $0 != 0 }.count } == [2, 1])
        var accounted = accepted.delta
        try accounted.add(residual)
        #expect(maxDifference(accounted, delta) < 1e-6)
        var machine = aggregator
        #expect(machine.receive(agent: "a1", round: 1, payload: payload, now: 1011).spooled == 1)
        #expect(agent.errorFeedback?.residual == residual)
    }

    @Test("under distributed privacy the agent sends the whole update and says why")
    func distributedSendsDense() throws {
        var policy = Fixture.policy
        policy.weighting = .uniform
        policy.privacy = ClientPrivacy(mode: .distributed, clipNorm: 1, noiseMultiplier: 1, expectedCohort: 3)
        let aggregator = Fixture.machine(policy: policy)
        var agent = try AgentStateMachine(
            agent: "a1", job: Fixture.job, lastServedRound: 0, errorFeedback: try ErrorFeedback(fraction: 0.25), random: SplitMix64(seed: 1))
        _ = agent.modelReceived(aggregator.modelBytes, now: 1001)
        _ = agent.roundReceived(ProtocolJSON.encode(aggregator.announcement), now: 1001)
        let actions = agent.trainingFinished(round: 1, trained: Fixture.initial, examples: 12, now: 1010)
        #expect(actions.first == .ignored("round 1: top-k is off under distributed privacy; sending the whole update"))
        guard case .publishUpdate(_, let payload, _, _) = actions[2] else {
            Issue.record("no publish in \(actions)")
            return
        }
        #expect(try !SafetensorsDecoder.decode(payload).isSparse)
    }

    @Test("a sparse update with bad indices or an unknown sparsity is refused as a tensor mismatch")
    func refusesBadSparse() throws {
        var machine = Fixture.machine()
        let metadata = [
            ModelCodec.Key.kind: "update", ModelCodec.Key.job: Fixture.job, ModelCodec.Key.round: "1", ModelCodec.Key.agent: "a1",
            ModelCodec.Key.baseSHA256: machine.model.sha256, ModelCodec.Key.examples: "3",
        ]
        let outOfRange = SparseParameters([
            SparseTensor(name: "W", indices: [99], values: [1]), SparseTensor(name: "b", indices: [0], values: [1]),
        ])
        var unknown = metadata
        unknown[SparseParameters.metadataKey] = "bottom-k"
        for payload in [
            SafetensorsEncoder.encode(sparse: outOfRange, metadata: metadata),
            SafetensorsEncoder.encode(Fixture.delta(0.1), metadata: unknown),
        ] {
            #expect(machine.receive(agent: "a1", round: 1, payload: payload, now: 1001).rejections == [.tensorMismatch])
        }
    }
}
