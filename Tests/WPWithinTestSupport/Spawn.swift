#if canImport(Glibc)
import Glibc
#endif

// Child processes for tests. Every descriptor of the test process except stdin, stdout and stderr is closed in
// the child: SwiftNIO opens its sockets without close-on-exec, and all the suites run in one process, so a
// child started while another test holds connections would otherwise keep them open for as long as it lives
// (a client's closed connection stays ESTABLISHED on the server; a server's closed one never reaches its
// client). Foundation's `Process` already closes them; `posix_spawn` alone does not.

/// Adds "close every descriptor from 3 on" to `actions` (`posix_spawn_file_actions_addclosefrom_np`, glibc
/// 2.34 and later, looked up at run time: Swift's Glibc module does not import it).
public func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) throws {
    #if canImport(Glibc)
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")  // nil: RTLD_DEFAULT
    else { throw TestSupportError("posix_spawn_file_actions_addclosefrom_np is missing (glibc < 2.34)") }
    let result = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
    guard result == 0 else { throw TestSupportError("posix_spawn_file_actions_addclosefrom_np failed: \(String(cString: strerror(result)))") }
    #endif
}

/// posix_spawn with stdin and stdout on /dev/null, stderr appended to `stderrPath`, and no other descriptor
/// inherited.
public func spawn(_ path: String, arguments: [String], environment: [String: String], stderrPath: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    try closeInheritedDescriptors(&actions)
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, path, &actions, nil, argv, envp)
    guard result == 0 else { throw TestSupportError("posix_spawn \(path) failed: \(String(cString: strerror(result)))") }
    return pid
}
