import CCurl
import Foundation
import Logging
import Synchronization

/// libcurl's global state, initialized once before the first handle (Swift runs a global's initializer once).
private let curlGlobalInit: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

/// One `curl_multi` handle driven by a dedicated thread, so no transfer ever blocks Swift's cooperative pool.
///
/// Callers hand requests over through a `Mutex`-protected queue and wake the thread with `curl_multi_wakeup`;
/// the thread adds and removes easy handles, runs `curl_multi_perform`/`curl_multi_poll`, and resumes each
/// request's continuation when it is done. The multi handle's connection cache keeps connections alive.
///
/// `@unchecked Sendable`: `multi` is only used by the curl thread, except `curl_multi_wakeup`, which libcurl documents
/// as callable from any thread; it is called only under `queue`'s lock while the state is not `.stopped`, and the
/// curl thread moves to `.stopped` under the same lock before it cleans the handle up.
final class CurlMulti: @unchecked Sendable {
    fileprivate enum Command {
        case start(CurlRequest)
        case cancel(UInt64)
    }

    private enum RunState { case running, stopping, stopped }

    private struct Queue: ~Copyable {
        var commands: [Command] = []
        var state = RunState.running
    }

    private let multi: UnsafeMutableRawPointer
    private let queue = Mutex(Queue())
    private let lastID = Atomic<UInt64>(0)

    /// Creates the multi handle and starts its thread.
    init(configuration: HTTPClientConfiguration, logger: Logger) {
        precondition(curlGlobalInit, "curl_global_init failed")
        guard let multi = curl_multi_init() else { fatalError("curl_multi_init failed") }
        self.multi = multi
        let perHost = max(1, configuration.maxConnectionsPerHost)
        _ = sagaflow_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, perHost)
        // Idle connections kept for reuse: room for a full burst to a few hosts (orchestrator → participants).
        _ = sagaflow_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, perHost * 4)

        let driver = CurlMultiDriver(
            multi: multi, maxResponseBytes: configuration.maxResponseBytes,
            connectTimeoutMilliseconds: configuration.connectTimeout.wholeMilliseconds, logger: logger)
        let thread = Thread { [self] in driver.run(self) }
        thread.name = "sagaflow.curl"
        thread.start()
    }

    /// A fresh request id (for cancellation).
    func makeID() -> UInt64 {
        lastID.add(1, ordering: .relaxed).newValue
    }

    /// Queues `request`; it fails with `.cancelled` at once if the calling task is already cancelled or the client
    /// is shut down.
    ///
    /// Cancellation is checked under the queue lock: a cancellation handler that ran before this call queued its
    /// `.cancel` ahead of the `.start`, and there the driver ignores it, so the check here is what catches it.
    func submit(_ request: CurlRequest) {
        let accepted = queue.withLock { queue -> Bool in
            guard queue.state == .running, !Task.isCancelled else { return false }
            queue.commands.append(.start(request))
            curl_multi_wakeup(multi)
            return true
        }
        if !accepted { request.continuation.resume(returning: .failure(.cancelled)) }
    }

    /// Asks the curl thread to abandon request `id`, which then fails with `.cancelled`; no-op once it is done.
    func cancel(_ id: UInt64) {
        queue.withLock { queue in
            guard queue.state == .running else { return }
            queue.commands.append(.cancel(id))
            curl_multi_wakeup(multi)
        }
    }

    /// Stops the thread; pending and queued requests fail with `.cancelled`. Idempotent.
    func shutdown() {
        queue.withLock { queue in
            guard queue.state == .running else { return }
            queue.state = .stopping
            curl_multi_wakeup(multi)
        }
    }

    /// For the curl thread: the queued commands, and whether to stop (then the state is `.stopped` from here on).
    fileprivate func takeCommands() -> (commands: [Command], stop: Bool) {
        queue.withLock { queue in
            let commands = queue.commands
            queue.commands = []
            guard queue.state == .stopping else { return (commands, false) }
            queue.state = .stopped
            return (commands, true)
        }
    }
}

/// The curl thread's side of `CurlMulti`: the easy handles in flight and a pool of idle ones to reuse.
private final class CurlMultiDriver: @unchecked Sendable {
    // @unchecked Sendable: created on the caller's thread, then used by the curl thread alone.
    private let multi: UnsafeMutableRawPointer
    private let maxResponseBytes: Int
    private let connectTimeoutMilliseconds: Int
    private let logger: Logger
    private var active: [UInt64: CurlTransfer] = [:]
    private var idleHandles: [UnsafeMutableRawPointer] = []
    private let maxIdleHandles = 64

    init(multi: UnsafeMutableRawPointer, maxResponseBytes: Int, connectTimeoutMilliseconds: Int, logger: Logger) {
        self.multi = multi
        self.maxResponseBytes = maxResponseBytes
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        self.logger = logger
    }

    /// The thread's loop, until `owner` is shut down; then fails what is left and cleans the multi handle up.
    func run(_ owner: CurlMulti) {
        logger.debug("http client thread started")
        while true {
            let (commands, stop) = owner.takeCommands()
            for command in commands {
                switch command {
                case .start(let request): start(request, cancelled: stop)
                case .cancel(let id): cancel(id)
                }
            }
            if stop { break }
            var running: Int32 = 0
            let performed = curl_multi_perform(multi, &running)
            if performed != CURLM_OK { logFailure("curl_multi_perform", performed) }
            finishDone()
            let polled = curl_multi_poll(multi, nil, 0, 1000, nil)
            if polled != CURLM_OK { logFailure("curl_multi_poll", polled) }
        }
        for id in Array(active.keys) { cancel(id) }
        for easy in idleHandles { curl_easy_cleanup(easy) }
        idleHandles = []
        curl_multi_cleanup(multi)
        logger.debug("http client thread stopped")
    }

    private func start(_ request: CurlRequest, cancelled: Bool) {
        guard !cancelled else {
            request.continuation.resume(returning: .failure(.cancelled))
            return
        }
        guard let easy = idleHandles.popLast() ?? curl_easy_init() else {
            request.continuation.resume(returning: .failure(.other.with(detail: "curl_easy_init failed")))
            return
        }
        let transfer = CurlTransfer(request: request, easy: easy, maxResponseBytes: maxResponseBytes)
        let configured = transfer.configure(connectTimeoutMilliseconds: connectTimeoutMilliseconds)
        guard configured == CURLE_OK else {
            finish(transfer, transfer.outcome(configured))
            return
        }
        let added = curl_multi_add_handle(multi, easy)
        guard added == CURLM_OK else {
            let message = String(cString: curl_multi_strerror(added))
            finish(transfer, .failure(.other.with(detail: "curl_multi_add_handle: \(message)")))
            return
        }
        active[request.id] = transfer
    }

    private func cancel(_ id: UInt64) {
        guard let transfer = active.removeValue(forKey: id) else { return }
        curl_multi_remove_handle(multi, transfer.easy)
        finish(transfer, .failure(.cancelled))
    }

    private func finishDone() {
        var queued: Int32 = 0
        while let message = curl_multi_info_read(multi, &queued) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            let code = message.pointee.data.result
            var context: UnsafeMutableRawPointer?
            _ = sagaflow_easy_getinfo_ptr(easy, CURLINFO_PRIVATE, &context)
            // `context` is the unretained transfer set in `configure`; `active` still retains it here.
            guard let context else { continue }
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
            active.removeValue(forKey: transfer.request.id)
            curl_multi_remove_handle(multi, easy)
            finish(transfer, transfer.outcome(code))
        }
    }

    /// Resumes the caller and returns the easy handle to the pool (reset; its connection stays in the multi cache).
    private func finish(_ transfer: CurlTransfer, _ outcome: Result<HTTPClientResponse, HTTPClientError>) {
        curl_easy_reset(transfer.easy)
        if idleHandles.count < maxIdleHandles {
            idleHandles.append(transfer.easy)
        } else {
            curl_easy_cleanup(transfer.easy)
        }
        transfer.request.continuation.resume(returning: outcome)
    }

    private func logFailure(_ call: String, _ code: CURLMcode) {
        logger.error(
            "libcurl multi call failed",
            metadata: ["curl.call": "\(call)", "curl.error": "\(String(cString: curl_multi_strerror(code)))"])
    }
}
