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
    func aServiceWatchesItsParentOnlyWhenAskedAndStopsWhenItIsKilled(_ setting: String) async throws {
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
        guard setting == "1" else {
            // Without the setting the service does not watch its parent (it says so when it does).
            #expect(!shell.log.contains("will stop when its parent process ends"))
            kill(service, SIGKILL)
            return
        }
        #expect(shell.log.contains("will stop when its parent process ends"))
        shell.kill()
        try await waitUntil("the orphaned service to stop", timeout: .seconds(10)) { !isRunning(service) }
    }
}
