import ArgumentParser
import FedMQProtocol

/// `--mode rounds` or `--mode asynchronous` on every command that runs a job.
extension JobMode: ExpressibleByArgument {}
