import Foundation
import SagaProtocol
import Synchronization

/// Ids `c-1`, `c-2`, … in call order: deterministic and easy to read in failures.
final class CountingIdentifierGenerator: IdentifierGenerator {
    private let counter = Mutex(0)

    func next(prefix: String) -> String {
        "\(prefix)-\(counter.withLock { value in value += 1; return value })"
    }
}
