public import Foundation
import Yams

extension SagaDefinition {
    /// Parses and validates a definition file's text; `file` names it in errors.
    ///
    /// Besides the types of the values, it checks that every key is known, steps are named uniquely,
    /// there is at most one pivot, and exactly the steps before the pivot (all steps, when there is no
    /// pivot) have a compensation: the pivot and the steps after it can never be rolled back, so a
    /// compensation there would be dead, and a step before it without one could not be undone.
    public init(yaml: String, file: String) throws(DefinitionError) {
        self = try DefinitionParser(file: file).parse(yaml)
    }

    /// Reads and parses the file at `url`; errors name the file by its last path component.
    public init(contentsOf url: URL) throws(DefinitionError) {
        let file = url.lastPathComponent
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw DefinitionError(.unreadableFile, file: file, message: "cannot read: \(error.localizedDescription)")
        }
        try self.init(yaml: text, file: file)
    }
}

/// Walks the YAML node tree of one file, turning every problem into a `DefinitionError`.
private struct DefinitionParser {
    let file: String

    func parse(_ yaml: String) throws(DefinitionError) -> SagaDefinition {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw DefinitionError(.malformedYAML, file: file, message: "not valid YAML: \(error)")
        }
        guard let root else { throw DefinitionError(.malformedYAML, file: file, message: "the file is empty") }
        let top = try Fields(
            root, allowed: ["name", "version", "steps", "deadline", "maxCompensationAttempts", "compensationRetry"],
            file: file, step: nil, path: nil)
        var definition = SagaDefinition(
            name: try top.string("name", required: true)!, version: try top.int("version", minimum: 1, required: true)!,
            steps: [], deadline: try top.duration("deadline"))
        if let attempts = try top.int("maxCompensationAttempts", minimum: 1) {
            definition.maxCompensationAttempts = attempts
        }
        if let backoff = try top.nested("compensationRetry", allowed: ["backoff", "maxBackoff"]) {
            definition.compensationRetry = try backoff.backoff(default: definition.compensationRetry)
        }
        guard let stepNodes = try top.sequence("steps"), !stepNodes.isEmpty else {
            throw DefinitionError(.noSteps, file: file, key: "steps", message: "a saga needs at least one step")
        }
        for (index, node) in stepNodes.enumerated() {
            definition.steps.append(try parseStep(node, index: index))
        }
        try validate(definition)
        return definition
    }

    private func parseStep(_ node: Node, index: Int) throws(DefinitionError) -> StepDefinition {
        let allowed = ["name", "service", "action", "compensation", "pivot", "timeout", "retry"]
        let label = Fields.stepName(of: node) ?? "#\(index + 1)"
        let fields = try Fields(node, allowed: allowed, file: file, step: label, path: nil)
        var step = StepDefinition(
            name: try fields.string("name", required: true)!, service: try fields.string("service", required: true)!,
            action: try fields.string("action", required: true)!, compensation: try fields.string("compensation"),
            pivot: try fields.bool("pivot") ?? false, timeout: try fields.duration("timeout"))
        if let retry = try fields.nested("retry", allowed: ["attempts", "backoff", "maxBackoff"]) {
            step.retry = RetryPolicy(
                attempts: try retry.int("attempts", minimum: 1) ?? RetryPolicy.default.attempts,
                backoff: try retry.backoff(default: RetryPolicy.default.backoff))
        }
        return step
    }

    private func validate(_ definition: SagaDefinition) throws(DefinitionError) {
        var seen = Set<String>()
        for step in definition.steps where !seen.insert(step.name).inserted {
            throw DefinitionError(
                .duplicateStep, file: file, step: step.name, key: "name", message: "another step has this name")
        }
        let pivots = definition.steps.filter(\.pivot)
        if pivots.count > 1 {
            throw DefinitionError(
                .multiplePivots, file: file, step: pivots[1].name, key: "pivot",
                message: "only one step can be the pivot; '\(pivots[0].name)' already is")
        }
        for (index, step) in definition.steps.enumerated() {
            switch (definition.isCompensable(index), step.compensation) {
            case (true, nil):
                throw DefinitionError(
                    .missingCompensation, file: file, step: step.name, key: "compensation",
                    message: "a step before the pivot needs a compensation (mark it `pivot: true` if it cannot be undone)")
            case (false, .some) where step.pivot:
                throw DefinitionError(
                    .compensationOnPivot, file: file, step: step.name, key: "compensation",
                    message: "the pivot cannot have a compensation: after it the saga cannot roll back")
            case (false, .some):
                throw DefinitionError(
                    .unusedCompensation, file: file, step: step.name, key: "compensation",
                    message: "steps after the pivot are never compensated")
            default:
                break
            }
        }
    }
}

/// The key-value pairs of one YAML mapping, checked against the keys the format allows.
private struct Fields {
    let values: [String: Node]
    let file: String
    let step: String?
    /// Dotted path of this mapping (`retry`), nil at the top of a file or step.
    let path: String?

    init(_ node: Node, allowed: [String], file: String, step: String?, path: String?) throws(DefinitionError) {
        self.file = file
        self.step = step
        self.path = path
        guard case .mapping(let mapping) = node else {
            throw DefinitionError(
                step == nil && path == nil ? .malformedYAML : .invalidValue, file: file, step: step, key: path,
                message: "expected a mapping of keys to values")
        }
        var values: [String: Node] = [:]
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? "\(keyNode)"
            let qualified = path.map { "\($0).\(key)" } ?? key
            guard allowed.contains(key) else {
                throw DefinitionError(
                    .unknownField, file: file, step: step, key: qualified,
                    message: "unknown field (allowed: \(allowed.joined(separator: ", ")))")
            }
            values[key] = value  // Yams refuses a mapping with a key given twice
        }
        self.values = values
    }

    /// The step's `name`, when the node is a mapping that has one, to label errors before validation.
    static func stepName(of node: Node) -> String? {
        guard case .mapping(let mapping) = node, let name = mapping["name"], case .scalar = name else { return nil }
        return name.string
    }

    private func failure(_ code: DefinitionError.Code, _ key: String, _ message: String) -> DefinitionError {
        DefinitionError(code, file: file, step: step, key: path.map { "\($0).\(key)" } ?? key, message: message)
    }

    private func scalar(_ key: String, required: Bool, expected: String) throws(DefinitionError) -> Node? {
        guard let node = values[key] else {
            if required { throw failure(.missingField, key, "required field is missing") }
            return nil
        }
        guard case .scalar = node else { throw failure(.invalidValue, key, "expected \(expected)") }
        return node
    }

    func string(_ key: String, required: Bool = false) throws(DefinitionError) -> String? {
        guard let node = try scalar(key, required: required, expected: "a string") else { return nil }
        guard let value = node.string, !value.isEmpty else { throw failure(.invalidValue, key, "must not be empty") }
        return value
    }

    func int(_ key: String, minimum: Int, required: Bool = false) throws(DefinitionError) -> Int? {
        guard let node = try scalar(key, required: required, expected: "a whole number") else { return nil }
        guard let value = node.int, value >= minimum else {
            throw failure(.invalidValue, key, "expected a whole number of at least \(minimum), got '\(node.string ?? "")'")
        }
        return value
    }

    func bool(_ key: String) throws(DefinitionError) -> Bool? {
        guard let node = try scalar(key, required: false, expected: "true or false") else { return nil }
        guard let value = node.bool else {
            throw failure(.invalidValue, key, "expected true or false, got '\(node.string ?? "")'")
        }
        return value
    }

    func duration(_ key: String) throws(DefinitionError) -> SagaDuration? {
        guard let node = try scalar(key, required: false, expected: "a duration like 50ms, 2s or 1m") else {
            return nil
        }
        guard let value = node.string.flatMap(SagaDuration.init(parsing:)), value.milliseconds > 0 else {
            throw failure(
                .invalidDuration, key, "'\(node.string ?? "")' is not a positive duration like 50ms, 2s, 1m or 1h")
        }
        return value
    }

    func sequence(_ key: String) throws(DefinitionError) -> [Node]? {
        guard let node = values[key] else { throw failure(.missingField, key, "required field is missing") }
        guard case .sequence(let items) = node else { throw failure(.invalidValue, key, "expected a list") }
        return Array(items)
    }

    func nested(_ key: String, allowed: [String]) throws(DefinitionError) -> Fields? {
        guard let node = values[key] else { return nil }
        return try Fields(node, allowed: allowed, file: file, step: step, path: path.map { "\($0).\(key)" } ?? key)
    }

    /// `backoff` and `maxBackoff` over `fallback`; the ceiling may not be below the start.
    func backoff(default fallback: Backoff) throws(DefinitionError) -> Backoff {
        let initial = try duration("backoff") ?? fallback.initial
        let explicitMaximum = try duration("maxBackoff")
        let maximum = explicitMaximum ?? max(fallback.maximum, initial)
        guard maximum >= initial else {
            throw failure(.invalidValue, "maxBackoff", "maxBackoff (\(maximum)) is below backoff (\(initial))")
        }
        return Backoff(initial: initial, maximum: maximum)
    }
}
