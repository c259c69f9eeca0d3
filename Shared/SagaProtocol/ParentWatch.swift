#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import Foundation

/// With `SAGAFLOW_EXIT_WITH_PARENT=1`, a service stops (SIGTERM to itself, so it shuts down as usual) when the
/// process that started it is gone: the test command sets it, so a test process that crashes leaves no services
/// behind holding ports and CPU. A dedicated thread checks the parent pid four times a second.
public enum ParentWatch {
    /// Starts watching when the environment asks for it; returns whether it did.
    @discardableResult
    public static func startIfAsked(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard environment["SAGAFLOW_EXIT_WITH_PARENT"] == "1" else { return false }
        let parent = getppid()
        let thread = Thread {
            while getppid() == parent { usleep(250_000) }
            kill(getpid(), SIGTERM)
        }
        thread.name = "parent-watch"
        thread.start()
        return true
    }
}
