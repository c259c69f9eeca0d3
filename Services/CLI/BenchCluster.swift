import ArgumentParser
import Compose
import Foundation
import Logging
import SagaHTTP
import SagaProtocol

/// The cluster a saga benchmark runs against: one it started for itself, or one already running.
struct BenchCluster: Sendable {
    /// The orchestrator's base URL.
    var url: String
    /// The participants' base URLs, when known (to check there is enough stock for the run).
    var serviceURLs: [String: String]
    /// The services' pids now, when known (for their peak memory, and for `chaos` to kill them).
    var pids: @Sendable () -> [String: Int32]
    /// Restarts per service so far, when known.
    var restarts: @Sendable () -> [String: Int]
    /// How long the cluster took from launch to healthy, when this run started it.
    var startupSeconds: Double?
    /// Stops what this run started and removes its temporary directory; nothing for an existing cluster.
    var stop: @Sendable () async -> Void

    /// Starts the cluster of `composeFile` on free ports with fresh data in a temporary directory.
    static func start(composeFile: String) async throws -> BenchCluster {
        let file: ComposeFile
        do {
            file = try ComposeFile.load(path: composeFile)
        } catch {
            throw ValidationError("cannot load \(composeFile): \(error)")
        }
        let scratch = try BenchScratch.make(purpose: "cluster")
        var logger = Logger(label: "sagaflow.bench")
        logger.logLevel = .warning
        let options = ClusterOptions(runDirectory: "\(scratch)/run", binDirectory: defaultBinDirectory(), freePorts: true)
        let launched = ContinuousClock.now
        let cluster: Cluster
        do {
            cluster = try await Cluster.up(file, options: options, logger: logger)
        } catch {
            throw ValidationError("the cluster did not start: \(error)\nLogs are in \(scratch)/run/logs/.")
        }
        let startup = (ContinuousClock.now - launched).inSeconds
        let names = cluster.services
        return BenchCluster(
            url: cluster.url(of: "orchestrator") ?? "",
            serviceURLs: Dictionary(uniqueKeysWithValues: names.compactMap { name in cluster.url(of: name).map { (name, $0) } }),
            pids: { Dictionary(uniqueKeysWithValues: names.compactMap { name in cluster.pid(of: name).map { (name, $0) } }) },
            restarts: { cluster.restarts },
            startupSeconds: startup,
            stop: {
                await cluster.down()
                try? FileManager.default.removeItem(atPath: scratch)
            })
    }

    /// A cluster already running at `url`; its pids and participants' URLs come from `<runDirectory>/cluster.json`
    /// when that describes the same orchestrator (re-read on each call: a restart changes the pids).
    static func existing(url: String, runDirectory: String) -> BenchCluster {
        @Sendable func known() -> [ClusterState.Service] {
            let services = ((try? Cluster.readState(runDirectory: runDirectory)) ?? nil)?.services ?? []
            let same = services.contains { $0.name == "orchestrator" && $0.url.map(normalized) == normalized(url) }
            return same ? services : []
        }
        return BenchCluster(
            url: url,
            serviceURLs: Dictionary(uniqueKeysWithValues: known().compactMap { service in service.url.map { (service.name, $0) } }),
            pids: { Dictionary(uniqueKeysWithValues: known().compactMap { service in service.pid.map { (service.name, $0) } }) },
            restarts: { Dictionary(uniqueKeysWithValues: known().map { ($0.name, $0.restarts) }) },
            startupSeconds: nil, stop: {})
    }

    private static func normalized(_ url: String) -> String {
        url.replacingOccurrences(of: "localhost", with: "127.0.0.1").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
    }

    /// How many `place-order` sagas with `input` this cluster can still complete: the seats left for the event
    /// and the customer's balance over the amount. Falls back to the demo data's capacity when a participant
    /// is unknown or does not answer.
    func capacity(for input: JSONValue) async -> (count: Int, source: String) {
        let seats = max(input["seats"]?.intValue ?? 1, 1)
        let amount = max(input["amount"]?.intValue ?? 1, 1)
        let client = HTTPClient()
        defer { client.shutdown() }
        func fetch(_ service: String, _ path: String) async -> JSONValue? {
            guard let base = serviceURLs[service], let response = try? await client.get("\(base)\(path)", timeout: .seconds(5)),
                response.status == 200
            else { return nil }
            return try? response.decode(JSONValue.self)
        }
        let event = input["eventId"]?.stringValue ?? "concert"
        let customer = input["customerId"]?.stringValue ?? "alice"
        if let inventory = await fetch("booking", "/inventory/\(event)"),
            let capacity = inventory["capacity"]?.intValue, let reserved = inventory["reserved"]?.intValue,
            let account = await fetch("payments", "/accounts/\(customer)"), let balance = account["balance"]?.intValue
        {
            return (min((capacity - reserved) / seats, balance / amount),
                "\(capacity - reserved) seats left for \(event), \(customer) has \(balance) cents")
        }
        return (min(100_000 / seats, 1_000_000 / amount), "the demo data: 100,000 seats for concert, 1,000,000 cents for alice")
    }
}

/// CPU time (user + system) that processes have used, from `/proc/<pid>/stat`.
enum CPUTime {
    /// Seconds of CPU `pid` has used; nil when the process is gone or this is not Linux.
    static func seconds(of pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return nil }
        // After "pid (comm) ": state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// CPU seconds of each named process, plus this load generator as `bench`.
    static func snapshot(_ pids: [String: Int32]) -> [String: Double] {
        var result = pids.compactMapValues(seconds(of:))
        result["bench"] = seconds(of: getpid())
        return result
    }
}

/// Peak resident memory of processes.
enum PeakMemory {
    /// `VmHWM` of `pid` from `/proc/<pid>/status`, in KiB; nil when the process is gone or this is not Linux.
    static func kilobytes(of pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return nil }
        return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }

    /// Peak memory of each named process, plus this load generator as `bench`.
    static func report(_ pids: [String: Int32]) -> [String: Int] {
        var result = pids.compactMapValues(kilobytes(of:))
        result["bench"] = kilobytes(of: getpid())
        return result
    }
}

/// Temporary directories for benchmark data, on the same disk as `./data`, so that fsync figures are that disk's.
enum BenchScratch {
    /// A new empty directory: under the system's temporary directory when that is on the same filesystem as
    /// `./data` (or the current directory), else under the current directory.
    static func make(purpose: String, in parent: String? = nil) throws -> String {
        let reference = FileManager.default.fileExists(atPath: "data") ? "data" : "."
        let temporary = FileManager.default.temporaryDirectory.path
        let base = parent ?? (device(of: temporary) == device(of: reference) ? temporary : FileManager.default.currentDirectoryPath)
        var template = Array("\(base)/sagaflow-bench-\(purpose)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw ValidationError("cannot create a directory in \(base): \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }

    private static func device(of path: String) -> UInt64? {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_dev) : nil
    }
}
