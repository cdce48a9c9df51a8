/// Path arithmetic on strings, as `NSString` did it, which FoundationEssentials lacks.
public enum PathText {
    /// The path without its last component: "a/b" -> "a", "/a" -> "/", "a" -> "".
    public static func directory(of path: String) -> String {
        var path = Substring(path)
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        guard let slash = path.lastIndex(of: "/") else { return "" }
        var directory = path[..<slash]
        while directory.hasSuffix("/") { directory.removeLast() }
        return directory.isEmpty ? "/" : String(directory)
    }
}
