import NIOCore
import Synchronization

extension HTTPServer {
    /// The server's open connections: counts them, asks them to wind down on shutdown, and reports when
    /// the last one has closed.
    final class ConnectionTracker: Sendable {
        private struct State {
            var open: [ObjectIdentifier: any Channel] = [:]
            var accepted = 0
            var quiescing = false
        }

        private let state = Mutex(State())
        private let drained: AsyncStream<Void>
        private let drainedContinuation: AsyncStream<Void>.Continuation

        init() {
            (drained, drainedContinuation) = AsyncStream.makeStream(of: Void.self)
        }

        /// Total connections accepted so far.
        var accepted: Int { state.withLock { $0.accepted } }

        /// Counts and tracks a freshly accepted connection; false when the server is stopping and the
        /// caller should close it instead.
        func admit(_ channel: any Channel) -> Bool {
            let id = ObjectIdentifier(channel)
            let admitted = state.withLock { state in
                state.accepted += 1
                guard !state.quiescing else { return false }
                state.open[id] = channel
                return true
            }
            if admitted {
                channel.closeFuture.whenComplete { _ in self.forget(id) }
            }
            return admitted
        }

        /// Refuses new connections and asks each open one to finish its current request, then close.
        func quiesce() {
            let (channels, isEmpty) = state.withLock { state in
                state.quiescing = true
                return (Array(state.open.values), state.open.isEmpty)
            }
            if isEmpty { drainedContinuation.yield() }
            for channel in channels {
                channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            }
        }

        /// Waits, after `quiesce()`, until every connection has closed; false when `timeout` ran out first
        /// or the caller was cancelled.
        func waitUntilDrained(timeout: Duration) async -> Bool {
            if state.withLock({ $0.open.isEmpty }) { return true }
            return await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    for await _ in self.drained { return true }
                    return false
                }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return false
                }
                let drained = await group.next() ?? false
                group.cancelAll()
                return drained
            }
        }

        /// Closes every connection still open, for when the grace period is over.
        func closeAll() {
            for channel in state.withLock({ Array($0.open.values) }) {
                channel.close(promise: nil)
            }
        }

        private func forget(_ id: ObjectIdentifier) {
            let drained = state.withLock { state in
                state.open[id] = nil
                return state.quiescing && state.open.isEmpty
            }
            if drained { drainedContinuation.yield() }
        }
    }
}
