import ArgumentParser
import Foundation
import SagaHTTP
import SagaProtocol
import Synchronization

/// Shared helpers of the commands that talk to the orchestrator's API.
enum API {
    static let client = HTTPClient()

    /// GET/POST and decode, turning connection errors and problems into messages that say what to do next.
    static func call(_ method: String, _ url: String, body: JSONValue? = nil, headers: [(name: String, value: String)] = [],
        timeout: Duration = .seconds(10)) async throws -> JSONValue
    {
        let bytes = try body.map { Array(try JSONCoding.encode($0)) } ?? []
        let response = try await send(
            HTTPClientRequest(method: method, url: url, headers: headers + [("Content-Type", "application/json")], body: bytes),
            timeout: timeout)
        try check(response.status, body: response.body, url: url)
        return try response.decode(JSONValue.self)
    }

    /// Sends `request`, turning a connection error into a message that says what to do next.
    static func send(_ request: HTTPClientRequest, timeout: Duration) async throws -> HTTPClientResponse {
        do {
            return try await client.execute(request, timeout: timeout)
        } catch {
            throw explain(error, url: request.url)
        }
    }

    static func explain(_ error: HTTPClientError, url: String) -> ValidationError {
        guard error.isOutcomeUnknown else {
            return ValidationError(
                "cannot reach the orchestrator at \(url) (\(error)): is the cluster running? Start it with `./compose/up` or `sagaflow up -d`.")
        }
        return ValidationError("no answer from \(url): \(error)")
    }

    /// Throws the problem a non-2xx answer carries, as a message.
    static func check(_ status: Int, body: [UInt8], url: String) throws {
        guard !(200..<300).contains(status) else { return }
        if let problem = try? JSONCoding.decode(Problem.self, from: Data(body)) {
            throw ValidationError("\(problem.title) (\(problem.code), HTTP \(problem.status)): \(problem.detail ?? "")")
        }
        throw ValidationError("HTTP \(status) from \(url)")
    }

    /// Follows a `text/event-stream` at `url`, calling `handle` with each event's JSON as it arrives, until the
    /// server ends the stream or `timeout` passes; returns how many events came.
    static func follow(_ url: String, timeout: Duration, handle: @escaping @Sendable (JSONValue) -> Void) async throws -> Int {
        let events = ServerSentEvents(handle)
        let request = HTTPClientRequest(url: url, headers: [("Accept", "text/event-stream")]) { events.feed($0) }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: timeout)
        } catch where error == .timeout {
            return events.count
        } catch {
            throw explain(error, url: url)
        }
        try check(response.status, body: events.raw, url: url)
        return events.count
    }

    /// One line per event for people.
    static func eventLine(_ event: JSONValue) -> String {
        let data = event["data"]
        let detail = [data?["step"]?.stringValue, data?["kind"]?.stringValue, data?["reason"]?.stringValue,
            data?["error"]?["code"]?.stringValue].compactMap { $0 }.joined(separator: " ")
        return "\(event["recordedAt"]?.stringValue ?? "")  \(event["stream"]?.stringValue ?? "")  \(event["type"]?.stringValue ?? "?")  \(detail)"
    }

    static func printJSON(_ value: JSONValue) throws {
        let encoder = JSONCoding.makeEncoder()
        encoder.outputFormatting.insert(.prettyPrinted)
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// One line per saga for people.
    static func summary(_ saga: JSONValue) -> String {
        guard case .array(let all)? = saga["steps"] else { return saga["id"]?.stringValue ?? "?" }
        let steps = all
            .map { "\($0["name"]?.stringValue ?? "?"):\($0["status"]?.stringValue ?? "?")" }
        return "\(saga["id"]?.stringValue ?? "?")  \(saga["type"]?.stringValue ?? "?")  \(saga["status"]?.stringValue ?? "?")  \(steps.joined(separator: " "))"
    }

    /// A saga in a few lines for people.
    static func describe(_ saga: JSONValue) -> String {
        var lines = ["saga    \(saga["id"]?.stringValue ?? "?")", "type    \(saga["type"]?.stringValue ?? "?")", "status  \(saga["status"]?.stringValue ?? "?")"]
        if let reason = saga["compensationReason"]?.stringValue { lines.append("reason  \(reason)") }
        if case .array(let steps)? = saga["steps"] {
            for step in steps {
                var line = "  \(step["name"]?.stringValue ?? "?")".padding(toLength: 22, withPad: " ", startingAt: 0)
                line += "\(step["status"]?.stringValue ?? "?")".padding(toLength: 14, withPad: " ", startingAt: 0)
                line += "attempts \(step["attempts"]?.intValue ?? 0)"
                if let code = step["error"]?["code"]?.stringValue { line += "  error \(code)" }
                lines.append(line)
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// `ProcessInfo` access in one place.
enum ProcessEnvironment {
    static func value(_ name: String) -> String? { ProcessInfo.processInfo.environment[name] }
}

struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start a saga.")

    @Argument(help: "The saga type, e.g. place-order (see GET /definitions).")
    var type: String

    @Option(help: "The saga input: JSON, or @file to read it from a file.")
    var input: String

    @Option(help: "An idempotency key: the same key starts the saga once.")
    var idempotencyKey: String?

    @Flag(help: "Wait (up to 60 s) until the saga ends.")
    var wait = false

    @OptionGroup var api: APIOptions

    func run() async throws {
        let text = input.hasPrefix("@") ? try String(contentsOfFile: String(input.dropFirst()), encoding: .utf8) : input
        guard let inputValue = try? JSONCoding.decode(JSONValue.self, from: Data(text.utf8)) else {
            throw ValidationError("--input is not valid JSON: \(text)")
        }
        var body: JSONValue = ["type": .string(type), "input": inputValue]
        if let idempotencyKey, case .object(var fields) = body {
            fields["idempotencyKey"] = .string(idempotencyKey)
            body = .object(fields)
        }
        let saga = try await API.call(
            "POST", "\(api.url)/sagas", body: body, headers: wait ? [("Prefer", "wait=60")] : [], timeout: .seconds(65))
        if api.json { try API.printJSON(saga) } else { print(API.describe(saga)) }
        if wait, saga["status"]?.stringValue == "failed" { throw ExitCode(2) }
    }
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one saga.")

    @Argument(help: "The saga id.") var id: String
    @OptionGroup var api: APIOptions

    func run() async throws {
        let saga = try await API.call("GET", "\(api.url)/sagas/\(id)")
        if api.json { try API.printJSON(saga) } else { print(API.describe(saga)) }
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List sagas, oldest first.")

    @Option(help: "Only sagas with this status (running, compensating, completed, compensated, failed).") var status: String?
    @Option(help: "Only sagas of this type.") var type: String?
    @Option(help: "At most this many.") var limit = 50
    @OptionGroup var api: APIOptions

    func run() async throws {
        var query = ["limit=\(limit)"]
        if let status { query.append("status=\(status)") }
        if let type { query.append("type=\(type)") }
        let page = try await API.call("GET", "\(api.url)/sagas?\(query.joined(separator: "&"))")
        if api.json { return try API.printJSON(page) }
        guard case .array(let items)? = page["items"] else { return }
        if items.isEmpty { print("no sagas") }
        for saga in items { print(API.summary(saga)) }
    }
}

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a saga's events as they happen (server-sent events), until it ends.")

    @Argument(help: "The saga id.") var id: String
    @Option(help: "Give up after this many seconds.") var timeout = 120
    @OptionGroup var api: APIOptions

    func run() async throws {
        let json = api.json
        let ended = Mutex(false)
        _ = try await API.follow("\(api.url)/sagas/\(id)/events", timeout: .seconds(timeout)) { event in
            if json { try? API.printJSON(event) } else { print(API.eventLine(event)) }
            if ["SagaCompleted", "SagaCompensated", "SagaFailed"].contains(event["type"]?.stringValue ?? "") {
                ended.withLock { $0 = true }
            }
        }
        guard ended.withLock({ $0 }) else {
            throw ValidationError("the saga did not end within \(timeout) s; `sagaflow get \(id)` shows where it is")
        }
    }
}

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print events of the global log as they are appended (server-sent events), until interrupted.")

    @Option(name: .customLong("type"), help: "Only events of this type (repeatable).") var types: [String] = []
    @Option(help: "Only events of streams starting with this, e.g. order- or saga-.") var streamPrefix: String?
    @Option(help: "Start after this global position (default: from the start of the log).") var after: Int64 = 0
    @Option(help: "Stop after this many seconds (default: until Ctrl-C).") var seconds: Int?
    @OptionGroup var api: APIOptions

    func run() async throws {
        var query = ["after=\(after)"]
        if !types.isEmpty { query.append("types=\(types.joined(separator: ","))") }
        if let streamPrefix { query.append("streamPrefix=\(streamPrefix)") }
        let url = "\(api.url)/events/stream?\(query.joined(separator: "&"))"
        let json = api.json
        let follow = { @Sendable in
            try await API.follow(url, timeout: .seconds(seconds ?? 365 * 24 * 3600)) { event in
                if json { try? API.printJSON(event) } else { print("\(event["position"]?.intValue ?? 0)  " + API.eventLine(event)) }
            }
        }
        _ = try await untilInterrupted(follow)
    }
}
