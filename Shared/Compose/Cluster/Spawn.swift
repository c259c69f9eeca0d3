#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `posix_spawn` with a clean signal state, a working directory, stdin from /dev/null and stdout and stderr to
/// one descriptor; and the blocking wait that reaps the child.
enum Spawn {
    /// Started: the pid; or why not.
    enum Outcome {
        case success(Int32)
        case failure(String)
    }

    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    /// glibc ≥ 2.29 and macOS have `posix_spawn_file_actions_addchdir_np`, glibc ≥ 2.34 also
    /// `…_addclosefrom_np`; Swift's Glibc module does not declare these GNU extensions, so they are looked up in
    /// the program's global symbols.
    private static let addChdir = unsafeBitCast(
        dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addchdir_np"), to: AddChdir?.self)
    private static let addCloseFrom = unsafeBitCast(
        dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np"), to: AddCloseFrom?.self)

    /// Starts `executable` with `arguments` and exactly `environment`, in `workingDirectory`, writing to `output`.
    static func run(
        _ executable: String, arguments: [String], environment: [String: String], workingDirectory: String, output: Int32
    ) -> Outcome {
        guard let addChdir else { return .failure("posix_spawn_file_actions_addchdir_np is missing (needs glibc 2.29)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
        // Descriptors other libraries opened without close-on-exec stay out of the service.
        _ = addCloseFrom?(&actions, 3)
        guard addChdir(&actions, workingDirectory) == 0 else { return .failure("cannot use working directory \(workingDirectory)") }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        sigdelset(&all, SIGKILL)
        sigdelset(&all, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { return .failure(String(cString: strerror(result))) }
        return .success(pid)
    }

    /// Blocks until `pid` ends and reaps it.
    static func waitForExit(_ pid: Int32) -> Termination {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { return Termination(status: -1, signaled: false) }
        }
        let signal = status & 0x7f
        return signal == 0
            ? Termination(status: (status >> 8) & 0xff, signaled: false) : Termination(status: signal, signaled: true)
    }
}
