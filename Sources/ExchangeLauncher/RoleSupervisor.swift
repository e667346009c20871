import AsyncHTTPClient
import ExchangeOps
import Foundation
import Synchronization

/// Runs `up`'s role processes: starts them, waits for their health checks, restarts those
/// that exit on their own, and stops them in `LaunchPlan.stopGroups` order.
///
/// Invariant: once `stopAll` has begun, nothing is started or restarted.
final class RoleSupervisor: Sendable {
    private struct Running {
        var role: LaunchPlan.Role
        var process: ChildProcess?
        var startedAt: ContinuousClock.Instant
        /// The wait before the next restart; doubles per crash up to 30 s.
        var backoff: Duration
        /// When a crashed role is started again.
        var restartAt: ContinuousClock.Instant?
    }

    private struct State {
        var environment: [String]
        var running: [String: Running] = [:]
        var stopping = false
    }

    let executable: String
    let logDirectory: String
    let say: @Sendable (String) -> Void
    private let state: Mutex<State>

    init(executable: String, logDirectory: String, say: @escaping @Sendable (String) -> Void) {
        self.executable = executable
        self.logDirectory = logDirectory
        self.say = say
        // Roles exit when `up` dies, even from SIGKILL (`SupervisedProcess.bindToParent`).
        let inherited = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("EXCHANGE_") }.map { "\($0.key)=\($0.value)" }
        state = Mutex(State(environment: inherited + ["EXCHANGE_SUPERVISOR_PID=\(getpid())"]))
    }

    var environment: [String] { state.withLock { $0.environment } }

    func addEnvironment(_ entries: [String]) { state.withLock { $0.environment += entries } }

    /// The token the roles' ops endpoints ask for; health checks carry it.
    private let internalToken = Mutex<InternalToken?>(nil)
    func setInternalToken(_ token: InternalToken) { internalToken.withLock { $0 = token } }

    /// Runs `exchange arguments...` to its end (a setup step: migrate, ctl ...); its output
    /// goes to logs/up-tools.log, and a failure throws with the output's last lines.
    func tool(_ arguments: [String]) async throws {
        let log = logDirectory + "/up-tools.log"
        let offset = (try? FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) ?? 0
        let process = try ChildProcess(executable: executable, arguments: arguments, environment: environment, logPath: log)
        guard await process.waitForExit(timeout: .seconds(120)) else {
            await process.stop(grace: .seconds(5))
            throw LaunchError("exchange \(arguments.prefix(2).joined(separator: " ")) did not finish in 2 minutes; see \(log)")
        }
        guard process.exitStatus == 0 else {
            let output = (FileManager.default.contents(atPath: log) ?? Data()).dropFirst(offset)
            throw LaunchError("exchange \(arguments.prefix(3).joined(separator: " ")) failed: \(String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// Starts every role of `group` (logs in logs/NAME.log).
    func start(_ group: [LaunchPlan.Role]) throws {
        try state.withLock { state in
            guard !state.stopping else { throw CancellationError() }
            for role in group {
                let process = try spawn(role, environment: state.environment)
                state.running[role.name] = Running(role: role, process: process, startedAt: .now, backoff: .seconds(1))
            }
        }
    }

    private func spawn(_ role: LaunchPlan.Role, environment: [String]) throws -> ChildProcess {
        try ChildProcess(executable: executable, arguments: role.arguments, environment: environment, logPath: "\(logDirectory)/\(role.name).log")
    }

    /// Returns once every role of `group` answers 200 on its health check; throws if one
    /// exits or `timeout` passes first.
    func waitHealthy(_ group: [LaunchPlan.Role], timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        var waiting = group
        while !waiting.isEmpty {
            try Task.checkCancellation()
            var still: [LaunchPlan.Role] = []
            for role in waiting {
                if let process = state.withLock({ $0.running[role.name]?.process }), process.poll() {
                    let log = "\(logDirectory)/\(role.name).log"
                    throw LaunchError("\(role.name) exited with status \(process.exitStatus ?? -1) while starting; see \(log), which ends:\n\(Self.tail(of: log))")
                }
                if await !Self.isHealthy(port: role.healthPort, path: role.healthPath, token: internalToken.withLock { $0 }) {
                    still.append(role)
                }
            }
            waiting = still
            guard !waiting.isEmpty else { break }
            guard ContinuousClock.now < deadline else {
                throw LaunchError("not healthy after \(timeout): \(waiting.map { "\($0.name) (\(logDirectory)/\($0.name).log)" }.joined(separator: ", "))")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// The last `lines` lines of the file at `path` (empty if it cannot be read).
    static func tail(of path: String, lines: Int = 10) -> String {
        let text = String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines + 1).joined(separator: "\n")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// True if 127.0.0.1:`port` answers `GET path` (with the internal `token`, if any) with 200 within 2 s.
    static func isHealthy(port: Int, path: String, token: InternalToken?) async -> Bool {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        if let token { request.headers.add(name: "Authorization", value: token.authorization) }
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)) else { return false }
        _ = try? await response.body.collect(upTo: 1 << 20)
        return response.status == .ok
    }

    /// Restarts roles that exit on their own, until cancelled.
    func supervise() async throws {
        while true {
            try await Task.sleep(for: .milliseconds(250))
            let messages = state.withLock { state -> [String] in
                guard !state.stopping else { return [] }
                var messages: [String] = []
                let now = ContinuousClock.now
                for (name, var entry) in state.running {
                    if let process = entry.process, process.poll() {
                        if entry.startedAt.duration(to: now) > .seconds(60) { entry.backoff = .seconds(1) }
                        entry.process = nil
                        entry.restartAt = now + entry.backoff
                        messages.append("up: \(name) exited with status \(process.exitStatus ?? -1); restarting in \(entry.backoff) (log: \(logDirectory)/\(name).log)")
                        entry.backoff = min(entry.backoff * 2, .seconds(30))
                    } else if entry.process == nil, let restartAt = entry.restartAt, restartAt <= now {
                        do {
                            entry.process = try spawn(entry.role, environment: state.environment)
                            entry.startedAt = now
                            entry.restartAt = nil
                            messages.append("up: \(name) restarted")
                        } catch {
                            entry.restartAt = now + entry.backoff
                            messages.append("up: \(name): \(error)")
                        }
                    }
                    state.running[name] = entry
                }
                return messages
            }
            messages.forEach(say)
        }
    }

    /// Stops every role, group by group in stop order: SIGTERM, SIGKILL after 15 s.
    func stopAll() async {
        let groups = state.withLock { state -> [[ChildProcess]] in
            state.stopping = true
            return LaunchPlan.stopGroups(of: state.running.values.map(\.role)).map { group in
                group.compactMap { state.running[$0.name]?.process }
            }
        }
        for group in groups where !group.isEmpty {
            await withTaskGroup(of: Void.self) { tasks in
                for process in group { tasks.addTask { await process.stop(grace: .seconds(15)) } }
            }
        }
        let names = state.withLock { state in
            defer { state.running = [:] }
            return state.running.keys.sorted()
        }
        if !names.isEmpty { say("up: stopped \(names.count) roles") }
    }
}
