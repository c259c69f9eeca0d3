#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Questions about processes by pid, for supervising children and for stopping a detached cluster.
enum ProcessTable {
    /// Sends `signal` to `pid`; false when there is no such process.
    @discardableResult
    static func send(_ signal: Int32, to pid: Int32) -> Bool {
        kill(pid, signal) == 0
    }

    /// Whether `pid` is a live process (not gone, not a zombie waiting to be reaped).
    static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        #if os(Linux)
        // /proc/<pid>/stat is "pid (comm) S …"; the state letter follows the last ')'.
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        {
            return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first != "Z"
        }
        #endif
        return true
    }

    /// Whether `pid` is alive and still runs `executable` (a recorded pid may have been reused since).
    ///
    /// Where the executable of a process cannot be read (no /proc), liveness alone decides.
    static func isRunning(_ pid: Int32, executable: String) -> Bool {
        guard isAlive(pid) else { return false }
        guard let actual = executablePath(of: pid) else { return true }
        return actual == executable
    }

    /// The resolved path of the executable `pid` runs, when the system tells.
    static func executablePath(of pid: Int32) -> String? {
        #if os(Linux)
        guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe") else { return nil }
        // A binary replaced by a rebuild while running reads "<path> (deleted)".
        return link.hasSuffix(" (deleted)") ? String(link.dropLast(" (deleted)".count)) : link
        #else
        return nil
        #endif
    }

    /// `path` with symbolic links resolved, as `executablePath(of:)` reports it.
    static func resolved(_ path: String) -> String {
        URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    }

    /// Waits until none of `pids` is alive; false if some still are at the deadline.
    static func waitUntilGone(_ pids: [Int32], timeout: Duration) async -> Bool {
        await poll(timeout: timeout) { pids.allSatisfy { !isAlive($0) } }
    }
}

/// Checks `condition` every `interval` until it holds (true) or `timeout` passes or the task is cancelled (false).
func poll(timeout: Duration, every interval: Duration = .milliseconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline, (try? await Task.sleep(for: interval)) != nil else { return condition() }
    }
    return true
}

/// Free TCP ports on 127.0.0.1, all different: each bound at once with port 0, read back, then released.
func freeLoopbackPorts(_ count: Int) throws(ClusterError) -> [Int] {
    var descriptors: [Int32] = []
    defer { for descriptor in descriptors { close(descriptor) } }
    var ports: [Int] = []
    for _ in 0..<count {
        #if canImport(Glibc)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw ClusterError(.setupFailed, message: "cannot open a socket: errno \(errno)") }
        descriptors.append(descriptor)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else { throw ClusterError(.setupFailed, message: "cannot find a free loopback port: errno \(errno)") }
        ports.append(Int(UInt16(bigEndian: address.sin_port)))
    }
    return ports
}
