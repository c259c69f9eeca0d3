import Synchronization

/// The head of the log as this process knows it, and the tasks waiting for it to pass a position.
/// Both stores use it to wake `waitForEvents` callers when an append commits.
final class PositionWaiters: Sendable {
    private struct Waiter {
        var after: Int64
        var continuation: CheckedContinuation<Bool, any Error>
    }

    private struct State {
        var head: Int64
        var closed = false
        var nextId: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
    }

    private let state: Mutex<State>

    init(head: Int64) {
        state = Mutex(State(head: head))
    }

    /// The highest position committed, as far as this process knows.
    var head: Int64 { state.withLock { $0.head } }

    /// Records that positions up to `position` are committed and wakes the waiters they satisfy.
    func advance(to position: Int64) {
        let woken = state.withLock { state -> [CheckedContinuation<Bool, any Error>] in
            guard position > state.head else { return [] }
            state.head = position
            let ready = state.waiters.filter { $0.value.after < position }
            for id in ready.keys { state.waiters[id] = nil }
            return ready.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume(returning: true) }
    }

    /// Fails every waiter, now and later, with `EventStoreError.storeClosed`.
    func close() {
        let woken = state.withLock { state -> [CheckedContinuation<Bool, any Error>] in
            state.closed = true
            defer { state.waiters = [:] }
            return state.waiters.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume(throwing: EventStoreError.storeClosed) }
    }

    /// Waits until the head passes `position` (true) or `timeout` passes or the task is cancelled (false).
    func wait(after position: Int64, timeout: Duration) async throws -> Bool {
        if head > position { return true }
        guard timeout > .zero else { return false }
        return try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { try await self.wait(after: position) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            defer { group.cancelAll() }
            return try await group.next() ?? false
        }
    }

    /// Waits until the head passes `position`; returns false when the task is cancelled.
    private func wait(after position: Int64) async throws -> Bool {
        let id = state.withLock { state in
            defer { state.nextId += 1 }
            return state.nextId
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                // Under the lock, so a cancellation either sees the waiter registered or sees it never will be.
                let immediate = state.withLock { state -> Result<Bool, any Error>? in
                    if state.closed { return .failure(EventStoreError.storeClosed) }
                    if state.head > position { return .success(true) }
                    if Task.isCancelled { return .success(false) }
                    state.waiters[id] = Waiter(after: position, continuation: continuation)
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume(returning: false)
        }
    }
}
