import Foundation
import SagaProtocol
import Testing

@Suite struct TimeOrderedUUIDTests {
    @Test func isAVersion7UUIDThatFoundationParses() throws {
        let id = TimeOrderedUUID.make()
        let uuid = try #require(UUID(uuidString: id))
        #expect(uuid.uuidString.lowercased() == id)
        let characters = Array(id)
        #expect(characters[14] == "7")
        #expect("89ab".contains(characters[19]))
    }

    @Test func startsWithTheMillisecondsItWasMadeAt() {
        let now = Date(timeIntervalSince1970: 1_800_000_000.123)
        let id = TimeOrderedUUID.make(now: now)
        let milliseconds = UInt64(id.replacing("-", with: "").prefix(12), radix: 16)
        #expect(milliseconds == 1_800_000_000_123)
    }

    @Test func laterIdsSortLaterAndNoneRepeat() {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let ids = (0..<10_000).map { TimeOrderedUUID.make(now: start.addingTimeInterval(Double($0 / 10) / 1000)) }
        #expect(Set(ids).count == ids.count)
        // Two milliseconds on (one could be lost to the rounding of a Double time).
        for (earlier, later) in zip(ids, ids.dropFirst(20)) { #expect(earlier < later) }
    }
}
