/// `${NAME}` in compose values: `${PORT}`, `${DATA_DIR}`, `${<service>.url}`, `${<service>.port}`; `$$` is a `$`.
enum Interpolation {
    /// Why a value could not be filled.
    enum Failure: Error {
        case unknown(String)
        case unterminated
    }

    /// The variables a service's values may use, given every service's port and its data directory.
    static func variables(for service: ComposeService, ports: [String: Int], dataDirectory: String) -> [String: String] {
        var variables = ["DATA_DIR": dataDirectory]
        if let port = ports[service.name] { variables["PORT"] = "\(port)" }
        for (name, port) in ports {
            variables["\(name).port"] = "\(port)"
            variables["\(name).url"] = "http://127.0.0.1:\(port)"
        }
        return variables
    }

    /// `text` with every `${NAME}` replaced from `variables`.
    static func fill(_ text: String, _ variables: [String: String]) throws(Failure) -> String {
        guard text.contains("$") else { return text }
        var result = ""
        var rest = text[...]
        while let dollar = rest.firstIndex(of: "$") {
            result += rest[..<dollar]
            let after = rest[rest.index(after: dollar)...]
            if after.first == "$" {
                result += "$"
                rest = after.dropFirst()
            } else if after.first == "{" {
                guard let close = after.firstIndex(of: "}") else { throw .unterminated }
                let name = String(after[after.index(after: after.startIndex)..<close])
                guard let value = variables[name] else { throw .unknown(name) }
                result += value
                rest = after[after.index(after: close)...]
            } else {
                result += "$"
                rest = after
            }
        }
        return result + rest
    }
}
