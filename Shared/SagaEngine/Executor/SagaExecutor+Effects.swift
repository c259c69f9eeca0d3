import Foundation
import Logging
import SagaHTTP
import SagaProtocol
import Synchronization

extension SagaExecutor {
    /// Queues dispatches and arms the saga's timer; called only after the events behind them are durable.
    func perform(_ effects: [SagaEffect], state: SagaState) {
        for effect in effects {
            switch effect {
            case .scheduleTimer(let at):
                timers.withLock { $0[state.sagaId] = at }
            case .dispatch(var envelope):
                envelope.replyTo = deps.replyTo()
                guard let step = state.definition.steps.first(where: { $0.name == envelope.step }),
                    let base = deps.serviceURL(step.service)
                else {
                    deps.logger.error(
                        "no URL for the step's service; the step will time out",
                        metadata: ["saga.id": "\(state.sagaId)", "saga.step": "\(envelope.step)"])
                    continue
                }
                deps.crashPoints.hit(.afterAppendDispatch)
                dispatchQueue.yield(
                    Dispatch(
                        sagaId: state.sagaId, envelope: envelope, url: "\(base)/commands",
                        timeout: .milliseconds(step.effectiveTimeout.milliseconds)))
            }
        }
    }

    /// Sends one command and feeds the outcome back (contract point 4 of `SagaDecider`).
    func send(_ dispatch: Dispatch) async {
        let envelope = dispatch.envelope
        let input: SagaInput?
        do {
            let response = try await deps.client.post(
                dispatch.url, json: envelope, headers: Self.traceparent(envelope).map { [("traceparent", $0)] } ?? [],
                timeout: dispatch.timeout)
            deps.crashPoints.hit(.afterDispatch)
            switch response.status {
            case 200:
                do {
                    input = .reply(try response.decode(Reply.self))
                } catch {
                    input = .transportFailure(commandId: envelope.id, outcomeUnknown: true, detail: "unreadable reply: \(error)")
                }
            case 202:
                input = nil
            case 409, 429, 500...:
                input = .transportFailure(commandId: envelope.id, outcomeUnknown: true, detail: Self.describe(response))
            case 401 where (try? response.decode(Problem.self))?.code == Problem.signatureReplayed:
                // libcurl resent the request after a reused connection died unanswered: the first copy arrived.
                input = .transportFailure(commandId: envelope.id, outcomeUnknown: true, detail: Self.describe(response))
            default:
                input = .transportFailure(commandId: envelope.id, outcomeUnknown: false, detail: Self.describe(response))
            }
        } catch {
            // A refused connection did not deliver this send, but the participant may be restarting and an
            // earlier send (before it died, or before our own restart) may have been applied: retry it.
            let unknown = error.isOutcomeUnknown || error == .connectionRefused
            input = .transportFailure(commandId: envelope.id, outcomeUnknown: unknown, detail: "\(error)")
        }
        guard let input else { return }
        do {
            try await handle(sagaId: dispatch.sagaId, input: input)
        } catch {
            deps.logger.error(
                "could not record a command's outcome; the step timer will retry",
                metadata: ["saga.id": "\(dispatch.sagaId)", "command.id": "\(envelope.id)", "error": "\(error)"])
        }
    }

    /// W3C `traceparent` for a command: the saga is the trace, the command a span (both from their hex ids).
    static func traceparent(_ envelope: CommandEnvelope) -> String? {
        let trace = envelope.sagaId.filter(\.isHexDigit).lowercased().suffix(32)
        let span = envelope.id.filter(\.isHexDigit).lowercased().prefix(16)
        guard trace.count == 32, span.count == 16 else { return nil }
        return "00-\(trace)-\(span)-01"
    }

    static func describe(_ response: HTTPClientResponse) -> String {
        "HTTP \(response.status): \(String(decoding: response.body.prefix(300), as: UTF8.self))"
    }

    /// Fires due timers every few milliseconds until cancelled.
    func fireTimers() async {
        while !Task.isCancelled {
            let now = deps.now()
            let due = timers.withLock { timers -> [String] in
                let due = timers.filter { $0.value <= now }.map(\.key)
                for id in due { timers.removeValue(forKey: id) }
                return due
            }
            for sagaId in due {
                do {
                    try await handle(sagaId: sagaId, input: .timerFired)
                } catch {
                    deps.logger.error("timer failed", metadata: ["saga.id": "\(sagaId)", "error": "\(error)"])
                    timers.withLock { $0[sagaId] = now.addingTimeInterval(1) }
                }
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}
