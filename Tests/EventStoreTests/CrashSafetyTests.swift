@testable import EventStore
import Foundation
import TestSupport
import Testing

/// A process killed with SIGKILL in the middle of appending leaves a store that opens cleanly and holds
/// every append it acknowledged. The appending process is this test binary again, running `childAppends`.
@Suite("SQLiteEventStore crash safety")
struct CrashSafetyTests {
    static let childDatabaseVariable = "SAGAFLOW_STORE_CHILD_DB"
    static let childStreams = 8

    @Test func acknowledgedAppendsSurviveSIGKILL() async throws {
        let directory = try TemporaryDirectory("eventstore-crash")
        defer { directory.remove() }
        let path = "\(directory.path)/events.sqlite"
        let child = try ChildProcess.launch(
            try Self.testBinary(),
            arguments: ["--testing-library", "swift-testing", "--filter", "CrashSafetyTests/childAppends"],
            environment: [Self.childDatabaseVariable: path])

        do {
            try await waitUntil("200 acknowledged appends", timeout: .seconds(60)) {
                Self.acknowledgements(in: child.log).count >= 200
            }
        } catch {
            Issue.record("\(error); the child's output:\n\(child.log)")
            return
        }
        child.kill()
        let status = try await child.waitForExit()
        #expect(status == SIGKILL, "the child must die by SIGKILL, not finish")
        let acknowledged = Self.acknowledgements(in: child.log)

        let store = try SQLiteEventStore(path: path, logger: .quiet)
        #expect(try await store.writerPragma("integrity_check") == "ok")
        let all = try await store.readAll(after: 0, limit: .max)
        let byPosition = Dictionary(uniqueKeysWithValues: all.map { ($0.position, $0) })
        for ack in acknowledged {
            let event = byPosition[ack.position]
            #expect(event?.stream == ack.stream && event?.version == ack.version, "acknowledged \(ack) is missing")
        }
        for index in 0..<Self.childStreams {
            let versions = try await store.read(stream: "crash-\(index)").map(\.version)
            #expect(versions == (0..<Int64(versions.count)).map { $0 }, "crash-\(index) has a gap")
        }
        #expect(zip(all, all.dropFirst()).allSatisfy { $0.position < $1.position })
    }

    /// The child side: appends to a few streams until killed, printing each acknowledged append.
    /// Runs only when the parent test launches it.
    @Test(.enabled(if: ProcessInfo.processInfo.environment[childDatabaseVariable] != nil))
    func childAppends() async throws {
        let path = try #require(ProcessInfo.processInfo.environment[Self.childDatabaseVariable])
        let store = try SQLiteEventStore(path: path, logger: .quiet)
        try await withThrowingTaskGroup { group in
            for index in 0..<Self.childStreams {
                group.addTask {
                    var expected = ExpectedVersion.noStream
                    // Bounded so an orphaned child still ends; the parent kills it long before.
                    for _ in 0..<100_000 {
                        let result = try await store.append(to: "crash-\(index)", expected: expected, events: [.test()])
                        expected = .exact(result.nextExpectedVersion)
                        // One write(2) per line, unbuffered: what the parent reads was acknowledged.
                        let line = "ack s=crash-\(index) v=\(result.nextExpectedVersion) p=\(result.lastPosition);\n"
                        FileHandle.standardOutput.write(Data(line.utf8))
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    struct Acknowledgement: Hashable {
        var stream: String
        var version: Int64
        var position: Int64
    }

    static func acknowledgements(in log: String) -> [Acknowledgement] {
        log.matches(of: /ack s=(crash-\d+) v=(\d+) p=(\d+);/).map {
            Acknowledgement(stream: String($0.1), version: Int64($0.2)!, position: Int64($0.3)!)
        }
    }

    /// The running test binary (`…/SagaflowPackageTests.xctest` under `swift test` on Linux).
    static func testBinary() throws -> String {
        try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    }
}
