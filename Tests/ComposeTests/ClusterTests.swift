import Compose
import Foundation
import Logging
import SagaHTTP
import Synchronization
import TestSupport
import Testing

/// A logger that writes nothing: tests stay quiet, failures carry the logs they need.
let quietLogger = Logger(label: "compose-tests") { _ in SwiftLogNoOpLogHandler() }

/// Whether no process has `pid` any more.
func isGone(_ pid: Int32) -> Bool {
    kill(pid, 0) == -1 && errno == ESRCH
}

@Suite("Cluster of real processes")
struct ClusterTests {
    /// The built executables: `SAGAFLOW_BIN_DIR` (set by compose/test), else `<repo>/.build/debug`.
    static let binDirectory = ProcessInfo.processInfo.environment["SAGAFLOW_BIN_DIR"] ?? "\(repositoryRoot)/.build/debug"

    @Test(.timeLimit(.minutes(3)))
    func theRealClusterStartsHealsAfterAKillAndLeavesNothingBehind() async throws {
        let directory = try TemporaryDirectory("compose-cluster")
        defer { directory.remove() }
        let lines = Mutex<[String: [String]]>([:])
        let file = try ComposeFile.load(path: sagaflowComposePath)
        let cluster = try await Cluster.up(
            file,
            options: ClusterOptions(
                runDirectory: directory.path, binDirectory: Self.binDirectory, freePorts: true,
                logSink: { service, line in lines.withLock { $0[service, default: []].append(line) } }),
            logger: quietLogger)
        var seen: [Int32] = []
        do {
            seen = try await checkEveryServiceIsHealthy(cluster, runDirectory: directory.path)
            #expect(lines.withLock { $0["orders"]?.contains { $0.contains("ready") } } == true)
            #expect(try String(contentsOfFile: cluster.logFile(of: "payments"), encoding: .utf8).contains("ready"))

            // The CLI against this cluster: `sagaflow start place-order … --wait` ends completed.
            let api = try #require(cluster.url(of: "orchestrator"))
            let cli = try ChildProcess.launch(
                "\(Self.binDirectory)/sagaflow",
                arguments: [
                    "start", "place-order", "--input", #"{"customerId":"alice","eventId":"concert","seats":2,"amount":1500}"#, "--wait",
                    "--url", api,
                ])
            #expect(try await cli.waitForExit(timeout: .seconds(60)) == 0)
            #expect(cli.log.contains("status  completed"), "sagaflow start printed: \(cli.log)")

            // `sagaflow watch` and `sagaflow tail` follow the server-sent event streams.
            let sagaId = try #require(cli.log.firstMatch(of: /saga\s+(s-[0-9a-f-]+)/).map { String($0.1) })
            let watch = try ChildProcess.launch("\(Self.binDirectory)/sagaflow", arguments: ["watch", sagaId, "--url", api])
            #expect(try await watch.waitForExit(timeout: .seconds(30)) == 0)
            #expect(watch.log.contains("SagaStarted") && watch.log.contains("SagaCompleted"), "sagaflow watch printed: \(watch.log)")
            #expect(watch.log.components(separatedBy: "StepSucceeded").count == 5, "four steps: \(watch.log)")
            let tail = try ChildProcess.launch(
                "\(Self.binDirectory)/sagaflow", arguments: ["tail", "--type", "SagaCompleted", "--seconds", "2", "--url", api])
            #expect(try await tail.waitForExit(timeout: .seconds(30)) == 0)
            #expect(tail.log.contains("saga-\(sagaId)  SagaCompleted"), "sagaflow tail printed: \(tail.log)")
            #expect(!tail.log.contains("StepSucceeded"))

            // SIGKILL a participant: the supervisor restarts it on its port, and it is healthy again.
            let killed = try #require(cluster.pid(of: "payments"))
            cluster.kill("payments")
            try await waitUntil("payments to be restarted", timeout: .seconds(30)) {
                cluster.restarts["payments"] == 1 && cluster.pid(of: "payments") != nil
            }
            try await cluster.waitHealthy("payments", timeout: .seconds(30))
            let restarted = try #require(cluster.pid(of: "payments"))
            seen.append(restarted)
            #expect(restarted != killed)
            #expect(isGone(killed))
            #expect(try await healthStatus(cluster, "payments") == 200)
            #expect(try Cluster.readState(runDirectory: directory.path)?.services.first { $0.name == "payments" }?.pid == restarted)

            // `stop` is not a failure: no restart, until `start` brings it back on the same port.
            let stopped = try #require(cluster.pid(of: "booking"))
            let bookingPort = cluster.port(of: "booking")
            await cluster.stop("booking")
            #expect(isGone(stopped))
            #expect(cluster.pid(of: "booking") == nil)
            #expect(!FileManager.default.fileExists(atPath: "\(directory.path)/pids/booking.pid"))
            try await cluster.start("booking")
            let started = try #require(cluster.pid(of: "booking"))
            seen.append(started)
            #expect(started != stopped)
            #expect(cluster.port(of: "booking") == bookingPort)
            #expect(cluster.restarts["booking"] == 0)
            #expect(try await healthStatus(cluster, "booking") == 200)
        } catch {
            await cluster.down(grace: .seconds(2))
            throw error
        }

        await cluster.down()
        for pid in seen { #expect(isGone(pid), "pid \(pid) is still there after down") }
        #expect(try Cluster.readState(runDirectory: directory.path) == nil)
        #expect(cluster.restarts == ["orchestrator": 0, "orders": 0, "payments": 1, "booking": 0])
    }

    /// Every service answers its health URL, and `cluster.json` and the pid files record the same pids.
    private func checkEveryServiceIsHealthy(_ cluster: Cluster, runDirectory: String) async throws -> [Int32] {
        #expect(cluster.services.last == "orchestrator")
        let state = try #require(try Cluster.readState(runDirectory: runDirectory))
        var pids: [Int32] = []
        for service in ["orchestrator", "orders", "payments", "booking"] {
            #expect(try await healthStatus(cluster, service) == 200, "\(service)")
            let pid = try #require(cluster.pid(of: service))
            pids.append(pid)
            #expect(!isGone(pid))
            let recorded = state.services.first { $0.name == service }
            #expect(recorded?.pid == pid)
            #expect(recorded?.url == cluster.url(of: service))
            let pidFile = try String(contentsOfFile: "\(runDirectory)/pids/\(service).pid", encoding: .utf8)
            #expect(pidFile.trimmingCharacters(in: .whitespacesAndNewlines) == "\(pid)")
        }
        #expect(state.supervisorPID == getpid())
        return pids
    }

    private func healthStatus(_ cluster: Cluster, _ service: String) async throws -> Int {
        let url = try #require(cluster.url(of: service))
        let client = HTTPClient()
        defer { client.shutdown() }
        return try await client.get("\(url)/health", timeout: .seconds(5)).status
    }
}

@Suite("Cluster supervision with plain processes")
struct SupervisionTests {
    /// A cluster of `/bin/sh` services, run in a fresh directory.
    private func up(_ yaml: String, in directory: TemporaryDirectory) async throws -> Cluster {
        let file = try ComposeFile.parse(yaml, file: "\(directory.path)/compose.yml")
        return try await Cluster.up(
            file, options: ClusterOptions(runDirectory: directory.path, binDirectory: "/bin"), logger: quietLogger)
    }

    @Test func aServiceThatDiesWhileStartingFailsUpWithItsLog() async throws {
        let directory = try TemporaryDirectory("compose-fail")
        defer { directory.remove() }
        let yaml = """
            services:
              steady:
                command: [sleep, "600"]
              broken:
                command: [sh, -c, "echo cannot open the database >&2; exit 3"]
                ports: ["1"]
                depends_on: [steady]
                healthcheck: {url: "http://127.0.0.1:${PORT}/health", interval: 50ms, retries: 100}
                restart: on-failure
            """
        await #expect {
            _ = try await up(yaml, in: directory)
        } throws: { error in
            guard let error = error as? ClusterError else { return false }
            #expect(error.code == .exitedBeforeHealthy)
            #expect(error.service == "broken")
            #expect(error.logTail.contains("cannot open the database"), "\(error)")
            #expect("\(error)".contains("exited with status 3"), "\(error)")
            return true
        }
        // `up` stopped what it had started.
        #expect(try Cluster.readState(runDirectory: directory.path) == nil)
        let log = try String(contentsOfFile: "\(directory.path)/logs/broken.log", encoding: .utf8)
        #expect(log.contains("cannot open the database"))
    }

    @Test func aMissingExecutableIsNamedBeforeAnythingStarts() async throws {
        let directory = try TemporaryDirectory("compose-missing")
        defer { directory.remove() }
        await #expect {
            _ = try await up("services:\n  ghost: {command: [no-such-sagaflow-binary]}\n", in: directory)
        } throws: { error in
            (error as? ClusterError)?.code == .executableNotFound && "\(error)".contains("/bin/no-such-sagaflow-binary")
        }
    }

    @Test func onFailureRestartsAfterACrashButNotAfterACleanExitOrNoPolicy() async throws {
        let directory = try TemporaryDirectory("compose-restart")
        defer { directory.remove() }
        let cluster = try await up(
            """
            services:
              crashy: {command: [sleep, "600"], restart: on-failure}
              fragile: {command: [sleep, "600"]}
              polite: {command: [sh, -c, "trap 'exit 0' TERM; while :; do sleep 0.05; done"], restart: on-failure}
            """, in: directory)
        do {
            let crashy = try #require(cluster.pid(of: "crashy"))
            cluster.kill("crashy")
            try await waitUntil("crashy to be restarted") {
                cluster.restarts["crashy"] == 1 && cluster.pid(of: "crashy").map { $0 != crashy } == true
            }
            #expect(isGone(crashy))

            // No policy: a kill leaves it down. Exit 0 under on-failure: not a failure, not restarted.
            let fragile = try #require(cluster.pid(of: "fragile"))
            cluster.kill("fragile")
            let polite = try #require(cluster.pid(of: "polite"))
            cluster.kill("polite", signal: SIGTERM)
            try await waitUntil("both to end") { isGone(fragile) && isGone(polite) }
            // A restart would come 100 ms after their exits; crashy's second restart comes 200 ms after a later
            // exit, so once it is back, a wrong restart of the other two would have shown.
            cluster.kill("crashy")
            try await waitUntil("crashy to be restarted again") { cluster.restarts["crashy"] == 2 && cluster.pid(of: "crashy") != nil }
            #expect(cluster.pid(of: "fragile") == nil)
            #expect(cluster.pid(of: "polite") == nil)
            #expect(cluster.restarts["fragile"] == 0 && cluster.restarts["polite"] == 0)
        } catch {
            await cluster.down(grace: .seconds(1))
            throw error
        }
        await cluster.down(grace: .seconds(1))
    }

    @Test func downDetachedStopsTheRecordedProcesses() async throws {
        let directory = try TemporaryDirectory("compose-detached")
        defer { directory.remove() }
        let cluster = try await up(
            """
            services:
              one: {command: [sleep, "600"]}
              two: {command: [sh, -c, "trap '' TERM; while :; do sleep 0.05; done"], depends_on: [one]}
            """, in: directory)
        let pids = try ["one", "two"].map { try #require(cluster.pid(of: $0)) }
        let state = try #require(try Cluster.readState(runDirectory: directory.path))
        #expect(state.services.map(\.pid) == pids)

        // What `sagaflow down` in another shell does; `two` ignores SIGTERM and gets SIGKILL after the grace.
        try await Cluster.downDetached(runDirectory: directory.path, grace: .milliseconds(300))
        // It returns once they are dead; this process, their parent, reaps them a moment later.
        try await waitUntil("the stopped services to be reaped", timeout: .seconds(5)) { pids.allSatisfy(isGone) }
        // `down` removed cluster.json. This test's own process is the supervisor (a real `sagaflow down` stops it
        // first), and it may record the exits it reaps afterwards: then no service may be recorded as running.
        try await waitUntil("no service recorded as running", timeout: .seconds(5)) {
            try Cluster.readState(runDirectory: directory.path)?.services.allSatisfy { $0.pid == nil } ?? true
        }
        await cluster.down(grace: .seconds(1))
    }
}
