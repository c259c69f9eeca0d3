import EventStore
import Foundation
import Logging
import TestSupport
import Testing

/// The implementations the shared suite runs against.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case inMemory
    case sqlite

    var testDescription: String { rawValue }

    /// A fresh, empty store of this kind; `now` stamps `recordedAt`.
    func make(now: @escaping @Sendable () -> Date = { Date() }) throws -> TestStore {
        switch self {
        case .inMemory:
            return TestStore(store: InMemoryEventStore(now: now), directory: nil)
        case .sqlite:
            let directory = try TemporaryDirectory("eventstore")
            let store = try SQLiteEventStore(path: "\(directory.path)/events.sqlite", logger: .quiet, now: now)
            return TestStore(store: store, directory: directory)
        }
    }
}

/// A store made for one test, and the directory to remove after it.
struct TestStore: Sendable {
    let store: any EventStore
    let directory: TemporaryDirectory?

    func remove() { directory?.remove() }
}

extension Logger {
    /// A logger that drops everything, so test output stays readable.
    static let quiet = Logger(label: "eventstore-test") { _ in SwiftLogNoOpLogHandler() }
}

extension NewEvent {
    /// A test event whose payload is `payload` as UTF-8.
    static func test(_ type: String = "Tested", _ payload: String = "{}", correlationId: String? = nil) -> NewEvent {
        NewEvent(type: type, data: Data(payload.utf8), metadata: EventMetadata(correlationId: correlationId))
    }
}
