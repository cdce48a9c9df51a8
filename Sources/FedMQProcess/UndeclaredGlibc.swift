import Glibc

/// A glibc function that Swift's Glibc module does not declare, looked up at run time by
/// name and typed as `Function` (a `@convention(c)` function type); nil where this C library
/// lacks it.
func undeclaredGlibcFunction<Function>(_ name: String, as type: Function.Type) -> Function? {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
    return unsafeBitCast(symbol, to: type)
}
