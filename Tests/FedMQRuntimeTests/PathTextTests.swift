import FedMQRuntime
import Foundation
import Testing

@Suite("Path arithmetic")
struct PathTextTests {
    @Test("directory(of:) gives what NSString's deletingLastPathComponent gave")
    func directory() {
        let paths = ["a/b", "/a", "/", "a/b/", "/a//b", "agent.json", "./agent.json", "../conf/agent.json", "//x"]
        for path in paths {
            #expect(PathText.directory(of: path) == (path as NSString).deletingLastPathComponent, "\(path)")
        }
        #expect(PathText.directory(of: "agent.json") == "")
        // swift-corelibs-foundation traps on a one-letter name and on an empty path (so
        // `fedmq-agent --config c` did); Apple's Foundation answers "" for both, as ours does.
        #expect(PathText.directory(of: "c") == "")
        #expect(PathText.directory(of: "") == "")
    }
}
