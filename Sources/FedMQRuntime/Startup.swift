import ServiceLifecycle

/// Runs a runtime's start (connecting, the first subscriptions and publishes: each may wait for
/// the broker as long as it takes) so that a graceful shutdown ends it instead of waiting for a
/// broker that may never come. Returns nil if the shutdown came first.
public func untilShutdown<Result: Sendable>(_ start: @escaping @Sendable () async throws -> Result) async throws -> Result? {
    do {
        return try await cancelWhenGracefulShutdown(start)
    } catch {
        guard Task.isShuttingDownGracefully else { throw error }
        return nil
    }
}
