import CMosquitto
import Glibc

/// Wakes the network thread out of `poll`: callers signal it after they queue a packet in
/// libmosquitto or ask the client to stop. An eventfd, so any number of signals cost one wake.
///
/// libmosquitto wakes its own `mosquitto_loop` through a private socket pair that a stop cannot
/// reach without queuing a DISCONNECT from the caller's thread; that is what let the network
/// thread read a PUBLISH after the DISCONNECT was queued and close the connection uncleanly.
final class Waker: Sendable {
    /// -1 when no eventfd could be made; the network thread then polls with a short timeout.
    let descriptor: Int32

    init() {
        descriptor = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    func signal() {
        guard descriptor >= 0 else { return }
        var one: UInt64 = 1
        _ = write(descriptor, &one, MemoryLayout<UInt64>.size)
    }

    /// Clears the signals taken so far (called by the network thread after `poll` saw them).
    func drain() {
        guard descriptor >= 0 else { return }
        var count: UInt64 = 0
        _ = read(descriptor, &count, MemoryLayout<UInt64>.size)
    }
}
