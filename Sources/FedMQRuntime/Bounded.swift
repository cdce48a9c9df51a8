/// Runs `operation`, giving up after `limit`: for work that must not hold up a shutdown, such
/// as a last status publish to a broker that may be gone. Returns nil when it gave up or failed.
public func bounded<Result: Sendable>(
    _ limit: Duration, _ operation: @escaping @Sendable () async throws -> Result
) async -> Result? {
    await withTaskGroup(of: Result?.self) { group in
        group.addTask { try? await operation() }
        group.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        return await group.next() ?? nil
    }
}

/// Runs `operation`, throwing `RuntimeError.timedOut` if it takes longer than `limit`.
public func withTimeLimit<Result: Sendable>(
    _ limit: Duration, waitingFor what: String, _ operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else { throw RuntimeError.timedOut(waitingFor: what, after: limit) }
        return result
    }
}
