/// A failure the command reports as `Error: <message>` with exit status 1 (not a usage error).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
