import ArgumentParser
import Foundation
import SagaHTTP
import SagaProtocol

/// Shared helpers of the commands that talk to the orchestrator's API.
enum API {
    static let client = HTTPClient()

    /// GET/POST and decode, turning connection errors and problems into messages that say what to do next.
    static func call(_ method: String, _ url: String, body: JSONValue? = nil, headers: [(name: String, value: String)] = [],
        timeout: Duration = .seconds(10)) async throws -> JSONValue
    {
        let response: HTTPClientResponse
        let bytes = try body.map { Array(try JSONCoding.encode($0)) } ?? []
        do {
            response = try await client.execute(
                HTTPClientRequest(method: method, url: url, headers: headers + [("Content-Type", "application/json")], body: bytes),
                timeout: timeout)
        } catch {
            guard error.isOutcomeUnknown else {
                throw ValidationError(
                    "cannot reach the orchestrator at \(url) (\(error)): is the cluster running? Start it with `./compose/up` or `sagaflow up -d`.")
            }
            throw ValidationError("no answer from \(url): \(error)")
        }
        guard (200..<300).contains(response.status) else {
            if let problem = try? response.decode(Problem.self) {
                throw ValidationError("\(problem.title) (\(problem.code), HTTP \(problem.status)): \(problem.detail ?? "")")
            }
            throw ValidationError("HTTP \(response.status) from \(url)")
        }
        return try response.decode(JSONValue.self)
    }

    static func printJSON(_ value: JSONValue) throws {
        let encoder = JSONCoding.encoder
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
    static let configuration = CommandConfiguration(abstract: "Print a saga's events as they happen, until it ends.")

    @Argument(help: "The saga id.") var id: String
    @Option(help: "Give up after this many seconds.") var timeout = 120
    @OptionGroup var api: APIOptions

    func run() async throws {
        var printed = 0
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            guard case .array(let events) = try await API.call("GET", "\(api.url)/sagas/\(id)/events") else { return }
            for event in events.dropFirst(printed) {
                if api.json {
                    try API.printJSON(event)
                } else {
                    let data = event["data"]
                    let detail = [data?["step"]?.stringValue, data?["kind"]?.stringValue, data?["reason"]?.stringValue,
                        data?["error"]?["code"]?.stringValue].compactMap { $0 }.joined(separator: " ")
                    print("\(event["recordedAt"]?.stringValue ?? "")  \(event["type"]?.stringValue ?? "?")  \(detail)")
                }
                if ["SagaCompleted", "SagaCompensated", "SagaFailed"].contains(event["type"]?.stringValue ?? "") { return }
            }
            printed = events.count
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ValidationError("the saga did not end within \(timeout) s; `sagaflow get \(id)` shows where it is")
    }
}
