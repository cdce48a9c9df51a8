import Testing

@testable import FedMQTransport

@Suite("Subscription registry and acknowledgement table")
struct SubscriptionRegistryTests {
    func entry(_ filters: [String], _ qos: QoS = .atLeastOnce) -> SubscriptionRegistry.Entry {
        let (_, continuation) = AsyncStream.makeStream(of: MQTTMessage.self)
        return SubscriptionRegistry.Entry(filters: filters, qos: qos, receiver: MessageReceiver(continuation))
    }

    @Test("a shared filter stays at the broker until its last user leaves")
    func sharedFilters() {
        var registry = SubscriptionRegistry()
        let a = registry.add(entry(["x", "y"], .atMostOnce))
        let b = registry.add(entry(["y", "z"]))
        #expect(a.newFilters == ["x", "y"])
        #expect(b.newFilters == ["z"])
        #expect(registry.activeFilters.map(\.filter) == ["x", "y", "z"])
        #expect(registry.activeFilters.first { $0.filter == "y" }?.qos == .atLeastOnce)
        #expect(registry.receivers(of: "y").count == 2)
        #expect(registry.remove(a.id) == ["x"])
        #expect(registry.remove(a.id) == [])
        #expect(registry.remove(b.id) == ["y", "z"])
        #expect(registry.activeFilters.isEmpty)
    }

    @Test("an acknowledgement that arrives before its waiter is kept for it")
    func earlyAck() async {
        var table = AckTable()
        #expect(table.complete(5, with: .published(.success)) == nil)
        let outcome = await withCheckedContinuation { (waiter: AckTable.Waiter) in
            if let early = table.register(5, kind: .acknowledged, waiter) { waiter.resume(returning: early) }
        }
        guard case .published(.success) = outcome else {
            Issue.record("expected the early PUBACK, got \(outcome)")
            return
        }
    }

    @Test("a wait cancelled before it registers ends, even when the acknowledgement comes in between")
    func cancelledBeforeRegistering() async {
        var table = AckTable()
        // The order a cancelled publish can take: the cancellation handler runs first, the
        // PUBACK arrives on the network thread, then the wait registers.
        #expect(table.cancel(7) == nil)
        #expect(table.complete(7, with: .published(.success)) == nil)
        let outcome = await withCheckedContinuation { (waiter: AckTable.Waiter) in
            if let early = table.register(7, kind: .acknowledged, waiter) {
                waiter.resume(returning: early)
            } else {
                // Without the fix the waiter is left registered; end it so the test fails, not hangs.
                for (pending, result) in table.closeAll() { pending.resume(returning: result) }
            }
        }
        guard case .cancelled = outcome else {
            Issue.record("expected .cancelled, got \(outcome)")
            return
        }
        // The next packet with the same id (ids wrap) is matched normally.
        #expect(table.complete(7, with: .published(.success)) == nil)
        let next = await withCheckedContinuation { (waiter: AckTable.Waiter) in
            if let early = table.register(7, kind: .acknowledged, waiter) { waiter.resume(returning: early) }
        }
        guard case .published(.success) = next else {
            Issue.record("expected the PUBACK of the reused id, got \(next)")
            return
        }
    }

    @Test("the acknowledgement of a cancelled wait is dropped: a later packet with the same id gets its own")
    func cancelledAcknowledgementDropped() async {
        var table = AckTable()
        // Cancelled while registered; its PUBACK comes afterwards.
        let registered = await withCheckedContinuation { (waiter: AckTable.Waiter) in
            #expect(table.register(7, kind: .acknowledged, waiter) == nil)
            table.cancel(7)?.resume(returning: .cancelled)
        }
        #expect(table.complete(7, with: .published(.success)) == nil)
        // Cancelled before it registered; its PUBACK comes after the registration.
        #expect(table.cancel(8) == nil)
        let unregistered = await withCheckedContinuation { (waiter: AckTable.Waiter) in
            waiter.resume(
                returning: table.register(8, kind: .acknowledged, waiter) ?? .failed(MQTTError(.closed, call: "test", detail: "left waiting")))
        }
        #expect(table.complete(8, with: .published(.success)) == nil)
        for (id, outcome) in [(7, registered), (8, unregistered)] {
            guard case .cancelled = outcome else {
                Issue.record("packet \(id): expected .cancelled, got \(outcome)")
                continue
            }
            // The id comes round again: the new wait ends with its own acknowledgement, not the old one.
            let reused = await withCheckedContinuation { (waiter: AckTable.Waiter) in
                if let stale = table.register(Int32(id), kind: .acknowledged, waiter) {
                    waiter.resume(returning: stale)
                } else {
                    table.complete(Int32(id), with: .published(.noMatchingSubscribers))?.resume(returning: .published(.noMatchingSubscribers))
                }
            }
            guard case .published(.noMatchingSubscribers) = reused else {
                Issue.record("packet \(id) reused: expected its own acknowledgement, got \(reused)")
                continue
            }
        }
    }

    /// Registers `id` and cancels it; records an issue unless its waiter was told `.cancelled`.
    func cancelAfterRegistering(_ id: Int32, kind: AckTable.Kind, in table: inout AckTable) async -> Bool {
        let outcome = await withCheckedContinuation { (waiter: AckTable.Waiter) in
            #expect(table.register(id, kind: kind, waiter) == nil)
            table.cancel(id)?.resume(returning: .cancelled)
        }
        guard case .cancelled = outcome else {
            Issue.record("packet \(id): expected .cancelled, got \(outcome)")
            return false
        }
        return true
    }

    @Test("a cancelled QoS 1 publish's acknowledgement, resent after a reconnect, answers no later packet")
    func cancelledAcknowledgementAcrossReconnect() async {
        var table = AckTable()
        guard await cancelAfterRegistering(9, kind: .acknowledged, in: &table) else { return }
        // A cancelled QoS 0 write never completes after the drop: its id must not stay ignored.
        guard await cancelAfterRegistering(10, kind: .sent, in: &table) else { return }
        #expect(table.connectionLost(detail: "gone").isEmpty)
        // libmosquitto resends packet 9 after the reconnect; its PUBACK comes.
        #expect(table.complete(9, with: .published(.success)) == nil)
        for id: Int32 in [9, 10] {
            let reused = await withCheckedContinuation { (waiter: AckTable.Waiter) in
                if let stale = table.register(id, kind: .acknowledged, waiter) {
                    waiter.resume(returning: stale)
                } else {
                    table.complete(id, with: .published(.noMatchingSubscribers))?.resume(returning: .published(.noMatchingSubscribers))
                }
            }
            guard case .published(.noMatchingSubscribers) = reused else {
                Issue.record("packet \(id) reused: expected its own acknowledgement, got \(reused)")
                continue
            }
        }
    }

    @Test("a lost connection fails QoS 0 writes, settles subscriptions, and keeps QoS 1 waiting")
    func connectionLost() async {
        var table = AckTable()
        /// Registers a waiter of `kind`, then lets `event` resume whatever it settles.
        func outcome(_ id: Int32, _ kind: AckTable.Kind, after event: (inout AckTable) -> [(AckTable.Waiter, AckOutcome)]) async
            -> String
        {
            let result = await withCheckedContinuation { (waiter: AckTable.Waiter) in
                _ = table.register(id, kind: kind, waiter)
                var settled = event(&table)
                if kind == .acknowledged {
                    #expect(settled.isEmpty, "a QoS 1 publish must survive a lost connection")
                    settled = table.closeAll()
                }
                for (pending, result) in settled { pending.resume(returning: result) }
            }
            switch result {
            case .failed(let error): return "failed \(error.code)"
            case .subscribed: return "subscribed"
            default: return "\(result)"
            }
        }
        let lose: (inout AckTable) -> [(AckTable.Waiter, AckOutcome)] = { $0.connectionLost(detail: "gone") }
        #expect(await outcome(1, .sent, after: lose) == "failed connectionLost")
        #expect(await outcome(2, .subscribed, after: lose) == "subscribed")
        #expect(await outcome(3, .acknowledged, after: lose) == "failed closed")
    }
}
