#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation
public import SagaProtocol
import Synchronization

/// A bare TCP connection for poking an HTTP server with arbitrary bytes (oversized headers, half a request,
/// nothing at all) and seeing exactly what comes back, including whether the server hung up.
///
/// Blocking socket calls run on their own Dispatch threads, not on the Swift concurrency pool, so tests
/// waiting on a slow server never starve the server's own tasks.
public final class RawHTTPConnection: Sendable {
    /// Why a raw exchange failed.
    public enum Failure: Error, Equatable, Sendable {
        case connectFailed(errno: Int32)
        case sendFailed(errno: Int32)
        case receiveFailed(errno: Int32)
        /// The deadline passed first.
        case timedOut
        /// The server closed the connection before a whole response arrived; `received` bytes came first.
        case closed(received: Int)
        case malformedResponse(String)
    }

    private let socket: Int32
    /// Bytes received but not yet handed out, and whether the descriptor has been closed.
    private let state = Mutex<(pending: [UInt8], isClosed: Bool)>(([], false))

    private init(socket: Int32) {
        self.socket = socket
    }

    deinit {
        close()
    }

    /// Connects to `host:port` (IPv4); throws `connectFailed` when nothing listens there.
    public static func connect(host: String = "127.0.0.1", port: Int) async throws -> RawHTTPConnection {
        try await offload {
            #if canImport(Glibc)
            let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            #else
            let fd = Darwin.socket(AF_INET, SOCK_STREAM, 0)
            #endif
            guard fd >= 0 else { throw Failure.connectFailed(errno: errno) }
            #if canImport(Darwin)
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
            #endif
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
                _ = systemClose(fd)
                throw Failure.connectFailed(errno: EINVAL)
            }
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    systemConnect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard result == 0 else {
                let error = errno
                _ = systemClose(fd)
                throw Failure.connectFailed(errno: error)
            }
            return RawHTTPConnection(socket: fd)
        }
    }

    /// Sends `bytes` whole.
    public func send(_ bytes: [UInt8]) async throws {
        try await Self.offload { [socket] in
            var offset = 0
            while offset < bytes.count {
                let sent = bytes[offset...].withUnsafeBytes { buffer in
                    systemSend(socket, buffer.baseAddress, buffer.count, Self.sendFlags)
                }
                guard sent >= 0 else {
                    if errno == EINTR { continue }
                    throw Failure.sendFailed(errno: errno)
                }
                offset += sent
            }
        }
    }

    /// Sends `text` as UTF-8.
    public func send(_ text: String) async throws {
        try await send(Array(text.utf8))
    }

    /// Sends one request built by `RawHTTPConnection.request(…)` and reads its response.
    public func exchange(
        _ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8] = [],
        within timeout: Duration = .seconds(10)
    ) async throws -> RawHTTPResponse {
        try await send(Self.request(method, target, headers: headers, body: body))
        return try await readResponse(within: timeout)
    }

    /// Reads one response: status line, headers, then a `Content-Length` body (none for 1xx, 204 and 304;
    /// without a length, the body runs to EOF).
    public func readResponse(within timeout: Duration = .seconds(10)) async throws -> RawHTTPResponse {
        try await offload { try self.receiveResponse(until: .now + timeout) }
    }

    /// Reads until the server closes the connection and returns every byte it sent before closing;
    /// throws `timedOut` when it is still open at the deadline.
    public func readUntilClosed(within timeout: Duration = .seconds(10)) async throws -> [UInt8] {
        try await offload {
            let deadline = ContinuousClock.now + timeout
            while try self.receiveMore(until: deadline) {}
            return self.state.withLock { state in
                defer { state.pending = [] }
                return state.pending
            }
        }
    }

    /// Reads until `done` holds for everything received so far (a stream still open), and returns all of it
    /// without consuming it; throws `timedOut` at the deadline, `closed` if the server closed first.
    public func read(until done: @escaping @Sendable ([UInt8]) -> Bool, within timeout: Duration = .seconds(10)) async throws -> [UInt8] {
        try await offload {
            let deadline = ContinuousClock.now + timeout
            while true {
                let pending = self.state.withLock { $0.pending }
                if done(pending) { return pending }
                guard try self.receiveMore(until: deadline) else { throw Failure.closed(received: pending.count) }
            }
        }
    }

    /// Closes the socket; later calls do nothing.
    public func close() {
        let wasOpen = state.withLock { state in
            defer { state.isClosed = true }
            return !state.isClosed
        }
        if wasOpen { _ = systemClose(socket) }
    }

    /// The bytes of a request: request line, `Host`, the given headers, and `Content-Length` when there is a body.
    public static func request(
        _ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8] = []
    ) -> [UInt8] {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    // MARK: - Blocking internals (run on Dispatch threads)

    private func receiveResponse(until deadline: ContinuousClock.Instant) throws -> RawHTTPResponse {
        let terminator = Array("\r\n\r\n".utf8)
        var open = true
        while true {
            let pending = state.withLock { $0.pending }
            if let headEnd = pending.firstRange(of: terminator)?.upperBound {
                var response = try RawHTTPResponse(head: Array(pending[..<headEnd]))
                let hasNoBody = response.status == 204 || response.status == 304 || response.status < 200
                let length = hasNoBody ? 0 : response.header("Content-Length").flatMap(Int.init)
                if let end = length.map({ headEnd + $0 }) ?? (open ? nil : pending.count), pending.count >= end {
                    response.body = Array(pending[headEnd..<end])
                    state.withLock { $0.pending.removeFirst(end) }
                    return response
                }
            }
            guard open else { throw Failure.closed(received: pending.count) }
            open = try receiveMore(until: deadline)
        }
    }

    /// Waits for and appends more bytes; false once the peer has closed (EOF or reset).
    private func receiveMore(until deadline: ContinuousClock.Instant) throws -> Bool {
        while true {
            let remaining = deadline - .now
            guard remaining > .zero else { throw Failure.timedOut }
            let milliseconds = Int32(min((remaining / .milliseconds(1)).rounded(.up), 60_000))
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                throw Failure.receiveFailed(errno: errno)
            }
            if ready == 0 { continue }
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            let count = buffer.withUnsafeMutableBytes { systemReceive(socket, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                state.withLock { $0.pending.append(contentsOf: buffer[..<count]) }
                return true
            }
            if count == 0 { return false }
            switch errno {
            case EINTR, EAGAIN: continue
            case ECONNRESET, EPIPE: return false
            default: throw Failure.receiveFailed(errno: errno)
            }
        }
    }

    private func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await Self.offload(work)
    }

    /// Runs blocking socket work on a private serial queue: those are overcommit, so each blocked call gets
    /// its own thread (the global concurrent queue would stop at one thread per core).
    private static func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue(label: "RawHTTPConnection").async { continuation.resume(with: Result(catching: work)) }
        }
    }

    #if canImport(Glibc)
    private static let sendFlags = Int32(MSG_NOSIGNAL)
    #else
    private static let sendFlags: Int32 = 0
    #endif
}

/// One response as read off a `RawHTTPConnection`.
public struct RawHTTPResponse: Sendable {
    /// The status code.
    public var status: Int
    /// Header fields in order, names as sent.
    public var headers: [(name: String, value: String)]
    /// The body bytes.
    public var body: [UInt8]

    init(head: [UInt8]) throws {
        let lines = String(decoding: head, as: UTF8.self).split(separator: "\r\n")
        let statusLine = lines.first?.split(separator: " ") ?? []
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else {
            throw RawHTTPConnection.Failure.malformedResponse(String(lines.first ?? ""))
        }
        self.status = status
        self.headers = lines.dropFirst().compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        self.body = []
    }

    /// The first value of header `name`, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The body as UTF-8 text.
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The body decoded as JSON with the shared configuration.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONCoding.decode(type, from: body)
    }

    /// The problem+json body, when the response is one.
    public var problem: Problem? {
        guard header("Content-Type") == Problem.contentType else { return nil }
        return try? decode(Problem.self)
    }
}

private func systemClose(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.close(fd)
    #else
    Darwin.close(fd)
    #endif
}

private func systemConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    #if canImport(Glibc)
    Glibc.connect(fd, address, length)
    #else
    Darwin.connect(fd, address, length)
    #endif
}

private func systemSend(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int, _ flags: Int32) -> Int {
    #if canImport(Glibc)
    Glibc.send(fd, bytes, count, flags)
    #else
    Darwin.send(fd, bytes, count, flags)
    #endif
}

private func systemReceive(_ fd: Int32, _ bytes: UnsafeMutableRawPointer?, _ count: Int, _ flags: Int32) -> Int {
    #if canImport(Glibc)
    Glibc.recv(fd, bytes, count, flags)
    #else
    Darwin.recv(fd, bytes, count, flags)
    #endif
}
