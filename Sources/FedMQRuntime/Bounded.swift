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
