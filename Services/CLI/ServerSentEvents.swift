import Foundation
import SagaProtocol
import Synchronization

/// Splits a `text/event-stream` body into events as its bytes arrive and hands each event's `data:` JSON on.
/// Keeps the first bytes too, so an error answer (not a stream) can still be read as a problem.
final class ServerSentEvents: Sendable {
    private let handle: @Sendable (JSONValue) -> Void
    private let state = Mutex<(pending: [UInt8], raw: [UInt8], count: Int)>(([], [], 0))
    private static let rawLimit = 64 << 10

    init(_ handle: @escaping @Sendable (JSONValue) -> Void) {
        self.handle = handle
    }

    /// Events handed on so far.
    var count: Int { state.withLock { $0.count } }
    /// The first 64 KiB received.
    var raw: [UInt8] { state.withLock { $0.raw } }

    /// Takes the next bytes; calls `handle` for every event they complete, in order.
    func feed(_ bytes: [UInt8]) {
        let frames = state.withLock { state -> [[UInt8]] in
            if state.raw.count < Self.rawLimit { state.raw += bytes.prefix(Self.rawLimit - state.raw.count) }
            state.pending += bytes
            var frames: [[UInt8]] = []
            while let end = state.pending.firstRange(of: [0x0A, 0x0A]) {
                frames.append(Array(state.pending[..<end.lowerBound]))
                state.pending.removeSubrange(..<end.upperBound)
            }
            return frames
        }
        for frame in frames {
            // Only `data:` matters here (it carries the id and type too); comments (`:`) are heartbeats.
            for line in frame.split(separator: 0x0A) where line.starts(with: Array("data:".utf8)) {
                let json = line.dropFirst(5).drop { $0 == 0x20 }
                guard let event = try? JSONCoding.decode(JSONValue.self, from: Data(json)) else { continue }
                state.withLock { $0.count += 1 }
                handle(event)
            }
        }
    }
}
