public import Foundation

/// The saga definitions an orchestrator knows: the latest of each name for new sagas, and every
/// definition ever registered by hash, so a running saga keeps the one it started with.
///
/// A value type: the executor holds it wherever it keeps shared state (an actor, a `Mutex`) and
/// replaces it on reload.
public struct DefinitionRegistry: Sendable, Equatable {
    private var latestByName: [String: SagaDefinition] = [:]
    private var byHash: [String: SagaDefinition] = [:]

    /// A registry holding `definitions`, later ones winning on equal names.
    public init(_ definitions: [SagaDefinition] = []) {
        for definition in definitions { register(definition) }
    }

    /// Loads every `*.yml` / `*.yaml` file in `directory` (not recursive), in name order.
    public static func load(directory: URL) throws(DefinitionError) -> DefinitionRegistry {
        var registry = DefinitionRegistry()
        try registry.reload(directory: directory)
        return registry
    }

    /// Reads `directory` again: its definitions become the latest of their names; definitions that
    /// changed or disappeared stay reachable by hash. On error nothing changes.
    public mutating func reload(directory: URL) throws(DefinitionError) {
        let files: [URL]
        do {
            files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
                .filter { ["yml", "yaml"].contains($0.pathExtension) }
                .sorted { $0.lastPathComponent < $1.lastPathComponent }
        } catch {
            throw DefinitionError(
                .unreadableFile, file: directory.path, message: "cannot list the directory: \(error.localizedDescription)")
        }
        var loaded: [String: (definition: SagaDefinition, file: String)] = [:]
        for file in files {
            let definition = try SagaDefinition(contentsOf: file)
            if let previous = loaded[definition.name] {
                throw DefinitionError(
                    .duplicateSaga, file: file.lastPathComponent, key: "name",
                    message: "saga '\(definition.name)' is already defined in \(previous.file)")
            }
            loaded[definition.name] = (definition, file.lastPathComponent)
        }
        latestByName = [:]
        for (definition, _) in loaded.values { register(definition) }
    }

    /// Adds `definition`: it becomes the latest of its name and is reachable by its hash.
    public mutating func register(_ definition: SagaDefinition) {
        latestByName[definition.name] = definition
        byHash[definition.hash] = definition
    }

    /// The definition new sagas of type `name` use.
    public func latest(named name: String) -> SagaDefinition? { latestByName[name] }

    /// The definition with `hash`, current or superseded, when its name is `name`.
    public func definition(named name: String, hash: String) -> SagaDefinition? {
        byHash[hash].flatMap { $0.name == name ? $0 : nil }
    }

    /// The latest definition of every name, sorted by name (`GET /definitions`).
    public var latest: [SagaDefinition] { latestByName.values.sorted { $0.name < $1.name } }
}
