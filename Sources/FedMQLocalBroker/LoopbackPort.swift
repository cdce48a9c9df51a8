import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// TCP ports on 127.0.0.1.
public enum LoopbackPort {
    /// A port that is free right now, outside the kernel's ephemeral range: a port the kernel
    /// hands out for outgoing connections could be taken by a client socket (of a parallel
    /// test, say) between this check and the broker binding it.
    ///
    /// A port is handed out once per process: two brokers started at the same moment by
    /// parallel tests never get the same one (each would find it free until the other binds).
    public static func free() throws(LocalBrokerError) -> Int {
        var random = SystemRandomNumberGenerator()
        let candidates = listeningRange()
        for _ in 0..<200 {
            let port = Int.random(in: candidates, using: &random)
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            if try bindable(port) { return port }
        }
        throw .socket(call: "bind", errno: EADDRINUSE)
    }

    /// Ports `free()` returned in this process.
    private static let handedOut = Mutex<Set<Int>>([])

    /// Ports below the kernel's ephemeral range (or above it, if it starts low).
    static func listeningRange() -> Range<Int> {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let bounds = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard bounds.count == 2 else { return 20_000..<32_768 }
        return bounds[0] > 11_000 ? 10_000..<bounds[0] : (bounds[1] + 1)..<65_536
    }

    private static func bindable(_ port: Int) throws(LocalBrokerError) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw .socket(call: "socket", errno: errno) }
        defer { close(descriptor) }
        var address = loopback(port: port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return bound == 0
    }

    /// True when something accepts TCP connections on the port.
    public static func accepts(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return connected == 0
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}
