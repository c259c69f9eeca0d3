extension ComposeFile {
    /// Checks dependencies and `${…}` and returns the file with its services in dependency order.
    func validated() throws(ComposeError) -> ComposeFile {
        let byName = Dictionary(services.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for service in services {
            for dependency in service.dependencies {
                let key = "depends_on.\(dependency.service)"
                guard let target = byName[dependency.service] else {
                    throw ComposeError(
                        .unknownDependency, file: file, service: service.name, key: key,
                        message: "depends on '\(dependency.service)', which the file does not define (services: \(services.map(\.name).joined(separator: ", ")))")
                }
                if dependency.condition == .healthy, target.healthcheck == nil {
                    throw ComposeError(
                        .invalidValue, file: file, service: service.name, key: "\(key).condition",
                        message: "waits for '\(target.name)' to be healthy, but '\(target.name)' has no healthcheck")
                }
            }
        }
        var result = self
        result.services = try dependencyOrder(byName)
        try result.checkInterpolation()
        return result
    }

    /// Services after their dependencies, otherwise in file order; a cycle is an error that lists it.
    private func dependencyOrder(_ byName: [String: ComposeService]) throws(ComposeError) -> [ComposeService] {
        var ordered: [ComposeService] = []
        var done: Set<String> = []
        func visit(_ service: ComposeService, path: [String]) throws(ComposeError) {
            if done.contains(service.name) { return }
            if let start = path.firstIndex(of: service.name) {
                let cycle = path[start...] + [service.name]
                throw ComposeError(
                    .dependencyCycle, file: file, service: service.name, key: "depends_on",
                    message: "dependency cycle: \(cycle.joined(separator: " → "))")
            }
            for dependency in service.dependencies {
                try visit(byName[dependency.service]!, path: path + [service.name])
            }
            done.insert(service.name)
            ordered.append(service)
        }
        for service in services { try visit(service, path: []) }
        return ordered
    }

    /// Every `${…}` in commands, environments and healthcheck URLs is one the launcher fills.
    private func checkInterpolation() throws(ComposeError) {
        let ports = Dictionary(services.compactMap { service in service.port.map { (service.name, $0) } }) { first, _ in first }
        for service in services {
            let variables = Interpolation.variables(for: service, ports: ports, dataDirectory: "/data")
            var values = service.command.enumerated().map { ("command[\($0.offset)]", $0.element) }
            values += service.environment.sorted { $0.key < $1.key }.map { ("environment.\($0.key)", $0.value) }
            if let check = service.healthcheck { values.append(("healthcheck.url", check.url)) }
            for (key, value) in values {
                do {
                    _ = try Interpolation.fill(value, variables)
                } catch {
                    let message =
                        switch error {
                        case .unterminated: "'${' without a closing '}' in '\(value)'"
                        case .unknown(let name):
                            "'${\(name)}' is not known (use ${PORT}, ${DATA_DIR}, ${<service>.url} or ${<service>.port} of a service with ports)"
                        }
                    throw ComposeError(.invalidInterpolation, file: file, service: service.name, key: key, message: message)
                }
            }
        }
    }
}
