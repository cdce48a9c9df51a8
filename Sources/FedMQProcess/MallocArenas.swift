import Glibc

/// glibc's malloc arenas. By default each thread's first allocation gets it an arena of its
/// own (up to eight per core), whose used pages stay resident; a daemon's few threads (the
/// network thread, Swift's cooperative ones) can take turns on one at no measurable cost.
public enum MallocArenas {
    /// `M_ARENA_MAX` in glibc's `malloc.h`, which Swift's Glibc module does not declare.
    static let arenaMaxOption: Int32 = -8
    private static let mallopt = undeclaredGlibcFunction("mallopt", as: (@convention(c) (Int32, Int32) -> Int32).self)

    /// Keeps every thread of this process on the main arena; call before any other thread
    /// starts. Returns whether glibc took the setting.
    @discardableResult
    public static func limitToOne() -> Bool {
        mallopt?(arenaMaxOption, 1) == 1
    }
}
