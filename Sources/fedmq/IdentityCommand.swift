import ArgumentParser
import FedMQRuntime

/// `fedmq identity`: what an operator needs to know about an Ed25519 identity key file.
struct IdentityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity",
        abstract: "Work with FedMQ identity keys (Ed25519).",
        subcommands: [IdentityShow.self]
    )
}

/// `fedmq identity show KEY`: the public half of a private key file, as configs and
/// enrolment files hold it (`aggregator_key`, `enrolment.json`).
struct IdentityShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print the public key (base64) of an identity key file."
    )

    @Argument(help: "The private key file (identity.key).") var key: String

    func run() throws {
        print(try IdentityFiles.signingKey(at: key).publicKey.base64)
    }
}
