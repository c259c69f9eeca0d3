import Foundation
import Testing
import TestSupport

/// `SAGAFLOW_EXIT_WITH_PARENT=1`: a service whose parent dies stops by itself (the test command sets it).
@Suite struct ParentWatchTests {
    /// Whether process `pid` still runs (a zombie, dead but not yet reaped, does not).
    func isRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        return stat.split(separator: ")").last?.split(separator: " ").first != "Z"
    }

    @Test(arguments: ["1", "0"])
    func aServiceStopsWhenItsParentIsKilledOnlyWhenAsked(_ setting: String) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // A shell parent that prints the service's pid, then waits; killing the shell orphans the service.
        let shell = try ChildProcess.launch(
            "/bin/sh", arguments: ["-c", "\"$0\" & echo \"service.pid=$!\"; wait", "\(binaryDirectory())/booking"],
            environment: ["DATA_DIR": dir.path, "HTTP_PORT": "0", "SAGAFLOW_EXIT_WITH_PARENT": setting])
        var pid: Int32?
        try await waitUntil("the service to start") {
            pid = shell.log.split(separator: "\n").first { $0.hasPrefix("service.pid=") }.flatMap { Int32($0.dropFirst(12)) }
            return pid != nil && shell.log.contains("http.port=")
        }
        let service = try #require(pid)
        shell.kill()
        if setting == "1" {
            try await waitUntil("the orphaned service to stop", timeout: .seconds(10)) { !isRunning(service) }
        } else {
            try await Task.sleep(for: .seconds(1))
            #expect(isRunning(service), "without the setting an orphan keeps running")
            kill(service, SIGKILL)
        }
    }
}
