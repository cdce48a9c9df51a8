import Testing

extension Trait where Self == TimeLimitTrait {
    /// A suite's guard against a hang, never a timing assertion. `swift test` runs every suite
    /// of the package at once in one process, whose awaits share one thread per core; under a
    /// full run (and on a loaded machine) a test of a few milliseconds alone can wait minutes
    /// for its turn, so the guard allows far more than the whole suite takes.
    static var hangGuard: Self { .timeLimit(.minutes(15)) }
}
