#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// A loopback TCP listener that accepts connections and never answers: the server that hangs after
/// receiving a request. Accepting runs on its own thread, so it never occupies the Swift concurrency pool.
public final class SilentListener: Sendable {
    /// The port it listens on.
    public let port: Int
    private let listener: Int32
    /// Accepted descriptors (held open, never read) and whether `close()` was called.
    private let state = Mutex<(accepted: [Int32], isClosed: Bool)>(([], false))

    /// Listens on 127.0.0.1 at a free port and starts accepting.
    public init() throws {
        let (descriptor, port) = try bindLoopback()
        guard listen(descriptor, 64) == 0 else {
            let error = errno
            _ = closeDescriptor(descriptor)
            throw POSIXError(POSIXErrorCode(rawValue: error) ?? .EIO)
        }
        self.listener = descriptor
        self.port = port
        Thread { [self] in acceptUntilClosed() }.start()
    }

    deinit {
        close()
    }

    /// Connections accepted so far.
    public var connectionsAccepted: Int { state.withLock { $0.accepted.count } }

    /// Closes every accepted connection and stops listening (within a few milliseconds); later calls do nothing.
    public func close() {
        let accepted = state.withLock { state -> [Int32] in
            defer { state = ([], true) }
            return state.isClosed ? [] : state.accepted
        }
        for descriptor in accepted { _ = closeDescriptor(descriptor) }
    }

    private func acceptUntilClosed() {
        while !state.withLock(\.isClosed) {
            var ready = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 20) > 0 else { continue }
            let descriptor = accept(listener, nil, nil)
            guard descriptor >= 0 else { continue }
            let kept = state.withLock { state -> Bool in
                guard !state.isClosed else { return false }
                state.accepted.append(descriptor)
                return true
            }
            if !kept { _ = closeDescriptor(descriptor) }
        }
        _ = closeDescriptor(listener)
    }
}

/// A loopback port nothing listens on: bound to find a free one, then closed, so connecting is refused.
public func unusedLoopbackPort() throws -> Int {
    let (descriptor, port) = try bindLoopback()
    _ = closeDescriptor(descriptor)
    return port
}

/// A TCP socket bound to 127.0.0.1 at a port the kernel picks, and that port.
private func bindLoopback() throws -> (descriptor: Int32, port: Int) {
    #if canImport(Glibc)
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    let descriptor = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
        }
    }
    guard bound else {
        let error = errno
        _ = closeDescriptor(descriptor)
        throw POSIXError(POSIXErrorCode(rawValue: error) ?? .EIO)
    }
    return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
}

private func closeDescriptor(_ descriptor: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.close(descriptor)
    #else
    Darwin.close(descriptor)
    #endif
}
