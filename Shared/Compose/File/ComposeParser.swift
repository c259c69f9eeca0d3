import Yams

/// Walks the YAML node tree of a compose file, turning every problem into a `ComposeError`.
struct ComposeParser {
    let file: String

    static let topKeys = ["services", "version", "name"]
    static let serviceKeys = [
        "command", "environment", "ports", "depends_on", "healthcheck", "restart", "data", "working_dir",
    ]
    static let healthcheckKeys = ["url", "interval", "retries", "timeout"]

    func parse(_ yaml: String, directory: String) throws(ComposeError) -> ComposeFile {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ComposeError(.malformedYAML, file: file, message: "not valid YAML: \(error)")
        }
        guard let root, case .mapping(let mapping) = root else {
            throw ComposeError(.malformedYAML, file: file, message: "expected a mapping with a 'services' key")
        }
        var secret: String?
        var servicesNode: Node?
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? "\(keyNode)"
            switch key {
            case "services": servicesNode = value
            case "x-sagaflow":
                secret = try Fields(value, allowed: ["secret"], file: file, service: nil, path: key).string("secret")
            case _ where key.hasPrefix("x-"), "version", "name":
                continue  // extension fields and docker-compose's informational keys
            default:
                throw ComposeError(
                    .unknownKey, file: file, key: key,
                    message: "unknown key (allowed: \((Self.topKeys + ["x-…"]).joined(separator: ", ")))")
            }
        }
        guard let servicesNode else {
            throw ComposeError(.missingKey, file: file, key: "services", message: "required key is missing")
        }
        guard case .mapping(let serviceNodes) = servicesNode, !serviceNodes.isEmpty else {
            throw ComposeError(.invalidValue, file: file, key: "services", message: "expected a mapping of service names to services")
        }
        var services: [ComposeService] = []
        for (nameNode, node) in serviceNodes {
            let name = nameNode.string ?? "\(nameNode)"
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), !name.isEmpty else {
                throw ComposeError(
                    .invalidValue, file: file, service: name, message: "a service name uses letters, digits, - and _ only")
            }
            services.append(try parseService(name: name, node: node))
        }
        return ComposeFile(file: file, directory: directory, services: services, secret: secret)
    }

    private func parseService(name: String, node: Node) throws(ComposeError) -> ComposeService {
        let fields = try Fields(node, allowed: Self.serviceKeys, file: file, service: name, path: nil)
        let healthcheck = try fields.nested("healthcheck", allowed: Self.healthcheckKeys).map { check throws(ComposeError) in
            let defaults = ComposeHealthCheck(url: "")
            return ComposeHealthCheck(
                url: try check.string("url", required: true)!,
                interval: try check.duration("interval") ?? defaults.interval,
                retries: try check.int("retries", minimum: 1) ?? defaults.retries,
                timeout: try check.duration("timeout") ?? defaults.timeout)
        }
        return ComposeService(
            name: name, command: try fields.command(), environment: try fields.environment(), port: try fields.port(),
            dependencies: try fields.dependencies(), healthcheck: healthcheck, restart: try fields.restart(),
            data: try fields.string("data"), workingDirectory: try fields.string("working_dir"))
    }
}

/// The key-value pairs of one YAML mapping, checked against the keys the format allows.
private struct Fields {
    let values: [String: Node]
    let file: String
    let service: String?
    /// Dotted path of this mapping inside the service (`healthcheck`), nil at the service itself.
    let path: String?

    init(_ node: Node, allowed: [String], file: String, service: String?, path: String?) throws(ComposeError) {
        self.file = file
        self.service = service
        self.path = path
        guard case .mapping(let mapping) = node else {
            throw ComposeError(.invalidValue, file: file, service: service, key: path, message: "expected a mapping of keys to values")
        }
        var values: [String: Node] = [:]
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? "\(keyNode)"
            guard allowed.contains(key) else {
                throw ComposeError(
                    .unknownKey, file: file, service: service, key: qualified(key, in: path),
                    message: "unknown key (allowed: \(allowed.joined(separator: ", ")))")
            }
            values[key] = value  // Yams refuses a mapping with a key given twice
        }
        self.values = values
    }

    private func failure(_ code: ComposeError.Code, _ key: String, _ message: String) -> ComposeError {
        ComposeError(code, file: file, service: service, key: qualified(key, in: path), message: message)
    }

    private func scalar(_ key: String, required: Bool, expected: String) throws(ComposeError) -> Node? {
        guard let node = values[key] else {
            if required { throw failure(.missingKey, key, "required key is missing") }
            return nil
        }
        guard case .scalar = node else { throw failure(.invalidValue, key, "expected \(expected)") }
        return node
    }

    func string(_ key: String, required: Bool = false) throws(ComposeError) -> String? {
        guard let node = try scalar(key, required: required, expected: "a string") else { return nil }
        guard let value = node.string, !value.isEmpty else { throw failure(.invalidValue, key, "must not be empty") }
        return value
    }

    func int(_ key: String, minimum: Int) throws(ComposeError) -> Int? {
        guard let node = try scalar(key, required: false, expected: "a whole number") else { return nil }
        guard let value = node.int, value >= minimum else {
            throw failure(.invalidValue, key, "expected a whole number of at least \(minimum), got '\(node.string ?? "")'")
        }
        return value
    }

    func duration(_ key: String) throws(ComposeError) -> Duration? {
        guard let node = try scalar(key, required: false, expected: "a duration like 100ms, 2s or 1m") else { return nil }
        guard let value = node.string.flatMap(Duration.init(composeText:)) else {
            throw failure(.invalidDuration, key, "'\(node.string ?? "")' is not a positive duration like 100ms, 2s or 1m")
        }
        return value
    }

    func nested(_ key: String, allowed: [String]) throws(ComposeError) -> Fields? {
        guard let node = values[key] else { return nil }
        return try Fields(node, allowed: allowed, file: file, service: service, path: qualified(key, in: path))
    }

    /// `command`: a list of strings, or one string split at spaces; required and not empty.
    func command() throws(ComposeError) -> [String] {
        guard let node = values["command"] else { throw failure(.missingKey, "command", "required key is missing") }
        let words: [String]
        switch node {
        case .scalar: words = (node.string ?? "").split(separator: " ").map(String.init)
        case .sequence(let items):
            words = try items.map { item throws(ComposeError) in
                guard case .scalar = item, let word = item.string else {
                    throw failure(.invalidValue, "command", "expected a list of strings")
                }
                return word
            }
        default: throw failure(.invalidValue, "command", "expected a list of strings")
        }
        guard let first = words.first, !first.isEmpty else {
            throw failure(.missingKey, "command", "must name an executable")
        }
        return words
    }

    /// `environment`: a mapping of names to scalars, or a list of `NAME=value`.
    func environment() throws(ComposeError) -> [String: String] {
        guard let node = values["environment"] else { return [:] }
        var environment: [String: String] = [:]
        switch node {
        case .mapping(let mapping):
            for (keyNode, value) in mapping {
                let name = keyNode.string ?? "\(keyNode)"
                guard case .scalar = value, let text = value.string else {
                    throw failure(.invalidValue, "environment.\(name)", "expected a string, number or boolean")
                }
                environment[name] = text
            }
        case .sequence(let items):
            for item in items {
                guard let entry = item.string, let equals = entry.firstIndex(of: "="), equals != entry.startIndex else {
                    throw failure(.invalidValue, "environment", "expected NAME=value, got '\(item.string ?? "\(item)")'")
                }
                environment[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
            }
        default:
            throw failure(.invalidValue, "environment", "expected a mapping of names to values")
        }
        return environment
    }

    /// `ports`: a list with the one port the service listens on, written `"8081"` or `8081`.
    func port() throws(ComposeError) -> Int? {
        guard let node = values["ports"] else { return nil }
        guard case .sequence(let items) = node else { throw failure(.invalidPort, "ports", "expected a list with one port, like [\"8081\"]") }
        guard items.count == 1, let item = items.first else {
            throw failure(.invalidPort, "ports", "expected exactly one port (the one the service listens on), got \(items.count)")
        }
        guard case .scalar = item, let text = item.string, let port = Int(text), (1...65535).contains(port) else {
            throw failure(.invalidPort, "ports", "'\(item.string ?? "\(item)")' is not a port from 1 to 65535")
        }
        return port
    }

    /// `depends_on`: a list of names (started), or a mapping `name: {condition: service_started|service_healthy}`.
    func dependencies() throws(ComposeError) -> [ComposeDependency] {
        guard let node = values["depends_on"] else { return [] }
        switch node {
        case .sequence(let items):
            return try items.map { item throws(ComposeError) in
                guard case .scalar = item, let name = item.string, !name.isEmpty else {
                    throw failure(.invalidValue, "depends_on", "expected a list of service names")
                }
                return ComposeDependency(service: name, condition: .started)
            }
        case .mapping(let mapping):
            return try mapping.map { keyNode, value throws(ComposeError) in
                let name = keyNode.string ?? "\(keyNode)"
                let entry = try Fields(
                    value, allowed: ["condition"], file: file, service: service, path: qualified("depends_on.\(name)", in: path))
                let text = try entry.string("condition") ?? ComposeDependency.Condition.started.rawValue
                guard let condition = ComposeDependency.Condition(rawValue: text) else {
                    throw failure(
                        .invalidValue, "depends_on.\(name).condition",
                        "'\(text)' is not a condition (allowed: service_started, service_healthy)")
                }
                return ComposeDependency(service: name, condition: condition)
            }
        default:
            throw failure(.invalidValue, "depends_on", "expected a list of service names or a mapping")
        }
    }

    /// `restart`: `on-failure` or `no` (default).
    func restart() throws(ComposeError) -> ComposeRestartPolicy {
        guard let node = try scalar("restart", required: false, expected: "on-failure or no") else { return .no }
        // `no` is a YAML 1.1 boolean; the scalar's text is what was written.
        guard let text = node.string, let policy = ComposeRestartPolicy(rawValue: text) else {
            throw failure(.invalidRestart, "restart", "'\(node.string ?? "")' is not a restart policy (allowed: on-failure, no)")
        }
        return policy
    }
}

private func qualified(_ key: String, in path: String?) -> String {
    path.map { "\($0).\(key)" } ?? key
}

extension Duration {
    /// Parses `<digits><unit>` with unit `ms`, `s`, `m` or `h`, positive; nil for anything else.
    init?(composeText text: String) {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard let value = Int64(digits), value > 0, value < 1_000_000_000 else { return nil }
        switch text.dropFirst(digits.count) {
        case "ms": self = .milliseconds(value)
        case "s": self = .seconds(value)
        case "m": self = .seconds(value * 60)
        case "h": self = .seconds(value * 3600)
        default: return nil
        }
    }
}
