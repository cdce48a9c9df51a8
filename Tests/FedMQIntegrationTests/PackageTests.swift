import FedMQLocalBroker
import FedMQProtocol
import Foundation
import Testing

/// The Debian packages: built by `tools/make-deb` (as `make deb` does, here from the test
/// build's binaries), installed with dpkg into a scratch root, and run.
@Suite("Debian packages", .hangGuard)
struct PackageTests {
    @Test(
        "fedmq-agent, fedmq-aggregator and fedmq-keyholder install with dpkg, their dependencies are ones Debian has, and the installed binaries run a job"
    )
    func installAndRun() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("fedmq-deb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let binaries = try executable("fedmq-agent").deletingLastPathComponent().path
        // Uncompressed: xz takes half a minute for the debug binaries, minutes on a loaded machine.
        var uncompressed = ProcessInfo.processInfo.environment
        uncompressed["DEB_COMPRESSION"] = "none"
        let built = try await runToEnd(
            "/bin/sh", [repositoryFile("tools/make-deb"), binaries, work.appendingPathComponent("dist").path, "0.1.0-test"],
            log: work.path + "-build.log", environment: uncompressed)
        #expect(built.status == 0, "\(built.output)")
        let packages = built.output.split(separator: "\n").map(String.init).filter { $0.hasSuffix(".deb") }
        #expect(packages.count == 3, "\(built.output)")

        // apt can satisfy the dependencies on this Debian (simulated: nothing is installed).
        for package in packages {
            let simulated = try await runToEnd("/usr/bin/apt-get", ["-s", "install", package], log: work.path + "-apt.log")
            #expect(simulated.status == 0 && simulated.output.contains("Inst fedmq-"), "\(simulated.output)")
        }

        // A scratch root with an empty dpkg database: dpkg installs the files and records them.
        let root = work.appendingPathComponent("root")
        for folder in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        #expect(FileManager.default.createFile(atPath: root.appendingPathComponent("var/lib/dpkg/status").path, contents: nil))
        let force = ["--force-depends", "--force-script-chrootless"] + (geteuid() == 0 ? [] : ["--force-not-root"])
        let installed = try await runToEnd(
            "/usr/bin/dpkg", ["--root=\(root.path)", "--log=\(work.path)-dpkg.log"] + force + ["-i"] + packages, log: work.path + "-install.log")
        #expect(installed.status == 0, "\(installed.output)")
        for name in ["agent", "aggregator", "keyholder"] {
            #expect(FileManager.default.isExecutableFile(atPath: root.appendingPathComponent("usr/bin/fedmq-\(name)").path))
            let unit = try String(contentsOf: root.appendingPathComponent("lib/systemd/system/fedmq-\(name).service"), encoding: .utf8)
            #expect(unit.contains("ExecStart=/usr/bin/fedmq-\(name) ") && !unit.contains("/usr/local/bin"))
        }
        let listed = try await runToEnd(
            "/usr/bin/dpkg", ["--root=\(root.path)", "-l", "fedmq-agent", "fedmq-aggregator", "fedmq-keyholder"], log: work.path + "-list.log")
        #expect(["agent", "aggregator", "keyholder"].allSatisfy { listed.output.contains("ii  fedmq-\($0)") }, "\(listed.output)")

        // The installed binaries run a two-round job (fedmq init's run.sh with FEDMQ_BIN at them).
        let port = try LoopbackPort.free()
        let job = work.appendingPathComponent("job")
        let made = try await runToEnd(
            try fedmqExecutable().path,
            [
                "init", "--job", "packaged", "--data", repositoryFile("data/digits.csv"), "--label", "label", "--agents", "2", "--rounds", "2",
                "--port", "\(port)", "--out", job.path,
            ], log: work.path + "-init.log")
        #expect(made.status == 0, "\(made.output)")
        var environment = ProcessInfo.processInfo.environment
        environment["FEDMQ_BIN"] = root.appendingPathComponent("usr/bin").path
        let ran = try await runToEnd("/bin/sh", [job.appendingPathComponent("run.sh").path], log: work.path + "-run.log", environment: environment)
        #expect(ran.status == 0, "\(ran.output)")
        let metrics = try String(contentsOf: job.appendingPathComponent("state/aggregator/metrics.jsonl"), encoding: .utf8)
        #expect(metrics.split(separator: "\n").count == 2)
    }
}
