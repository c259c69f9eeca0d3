public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// An HTTP/1.1 server on SwiftNIO that answers requests with a `Router`'s async handlers.
///
/// Each connection is served by one child task of `run()`, one request at a time, so responses leave in
/// request order. Bodies are read whole (within `maxBodyBytes`) before the handler runs; every error the
/// server or a handler produces is answered as `application/problem+json`.
public final class HTTPServer: Service, Sendable {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    typealias Listener = NIOAsyncChannel<Connection, Never>

    private enum Phase {
        case bound(Listener)
        case running
        case stopped
    }

    private struct State {
        var phase: Phase
        var stopRequested = false
        var runWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let configuration: HTTPServerConfiguration
    let router: Router
    let logger: Logger
    let connections: ConnectionTracker
    private let listenerChannel: any Channel
    private let state: Mutex<State>

    /// The port the server is bound to (the one picked when the configuration asked for port 0).
    public let port: Int

    /// Total TCP connections accepted so far; a keep-alive client reusing its connection does not add to it.
    public var connectionsAccepted: Int { connections.accepted }

    private init(
        configuration: HTTPServerConfiguration, router: Router, logger: Logger, connections: ConnectionTracker,
        listener: Listener, port: Int
    ) {
        self.configuration = configuration
        self.router = router
        self.logger = logger
        self.connections = connections
        self.listenerChannel = listener.channel
        self.state = Mutex(State(phase: .bound(listener)))
        self.port = port
    }

    /// Binds and starts accepting; returns once listening. Call `run()` to serve.
    public static func bind(
        configuration: HTTPServerConfiguration, router: Router, logger: Logger
    ) async throws -> HTTPServer {
        let connections = ConnectionTracker()
        let limits = {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = configuration.maxHeaderBytes
            limits.maxHeaderListSize = configuration.maxHeaderBytes
            return limits
        }()
        let idleTimeout = TimeAmount(configuration.idleTimeout)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.configureHTTPServerPipeline(
                        withErrorHandling: false, withEncoderConfiguration: .init(),
                        withDecoderLimitConfiguration: limits)
                    try pipeline.addHandler(RequestTimeoutHandler(timeout: idleTimeout))
                    let connection = try Connection(wrappingChannelSynchronously: channel)
                    if !connections.admit(channel) { channel.close(promise: nil) }
                    return connection
                }
            }
        let port = listener.channel.localAddress?.port ?? configuration.port
        logger.info("http server listening", metadata: ["host": "\(configuration.host)", "port": "\(port)"])
        return HTTPServer(
            configuration: configuration, router: router, logger: logger, connections: connections,
            listener: listener, port: port)
    }

    /// Serves until cancelled or graceful shutdown, then stops accepting, lets in-flight requests finish
    /// (within `shutdownGracePeriod`) and closes. Cancellation also cancels the handlers still running.
    /// Returns at once when the server is already running or was shut down.
    public func run() async throws {
        let listener: Listener? = state.withLock { state in
            guard case .bound(let listener) = state.phase else { return nil }
            state.phase = .running
            return listener
        }
        guard let listener else { return }
        defer { finishRun() }

        var failure: (any Error)?
        await withTaskCancellationOrGracefulShutdownHandler {
            do {
                try await listener.executeThenClose { inbound in
                    await withDiscardingTaskGroup { group in
                        do {
                            for try await connection in inbound {
                                group.addTask { await self.serve(connection) }
                            }
                        } catch {
                            failure = error
                        }
                        beginStop()
                        if await !connections.waitUntilDrained(timeout: configuration.shutdownGracePeriod) {
                            logger.warning(
                                "http server closing busy connections",
                                metadata: ["reason": Task.isCancelled ? "cancelled" : "grace period over"])
                            connections.closeAll()
                            group.cancelAll()
                        }
                    }
                }
            } catch {
                failure = failure ?? error
            }
        } onCancelOrGracefulShutdown: {
            self.beginStop()
        }
        // The listener's close is asynchronous: wait for it, so that when `run()` returns the port refuses
        // connections (a test saw a connect succeed just after a cancelled run had returned).
        try? await listenerChannel.closeFuture.get()
        logger.info("http server stopped", metadata: ["port": "\(port)"])
        if let failure, !(failure is CancellationError) { throw failure }
    }

    /// Stops the server as `run()` does on graceful shutdown and waits until it has; idempotent.
    /// When `run()` was never called, closes the listener and whatever it had accepted.
    public func shutdown() async throws {
        enum Next {
            case closeUnstarted(Listener)
            case awaitRun
            case done
        }
        beginStop()
        let next = state.withLock { state -> Next in
            switch state.phase {
            case .bound(let listener):
                state.phase = .stopped
                return .closeUnstarted(listener)
            case .running: return .awaitRun
            case .stopped: return .done
            }
        }
        switch next {
        case .closeUnstarted(let listener):
            try await listener.executeThenClose { inbound in
                for try await connection in inbound { connection.channel.close(promise: nil) }
            }
        case .awaitRun:
            await withCheckedContinuation { continuation in
                let finished = state.withLock { state in
                    guard case .running = state.phase else { return true }
                    state.runWaiters.append(continuation)
                    return false
                }
                if finished { continuation.resume() }
            }
        case .done:
            break
        }
        try await listenerChannel.closeFuture.get()
    }

    /// Closes the listener and asks open connections to wind down; the first call wins.
    private func beginStop() {
        let first = state.withLock { state in
            defer { state.stopRequested = true }
            return !state.stopRequested
        }
        guard first else { return }
        logger.info("http server stopping", metadata: ["port": "\(port)"])
        listenerChannel.close(promise: nil)
        connections.quiesce()
    }

    /// Whether the server is winding down, so a connection should close after its current response.
    var isStopping: Bool { state.withLock { $0.stopRequested } }

    private func finishRun() {
        let waiters = state.withLock { state in
            state.phase = .stopped
            defer { state.runWaiters = [] }
            return state.runWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
