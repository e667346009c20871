import ExchangeReplication
import Testing

/// A seeded simulation of replicas sharing one store (lease with epochs, input log, output
/// log with fenced appends) through crashes, long pauses and message delays. Whatever
/// happens, the output log must hold every input position exactly once, in order.
@Suite struct ReplicaSimulationTests {
    /// Seeds 1...200: seed 6 found a grant that arrived after its own epoch had been observed,
    /// and another a second catch-up read issued while a standby read was still out.
    @Test("exactly-once outputs through crashes, pauses and delays", arguments: Array(UInt64(1)...200))
    func exactlyOnce(seed: UInt64) {
        var simulation = Simulation(seed: seed, replicaCount: 3, inputCount: 400)
        simulation.run()
        #expect(simulation.violations == [], "seed \(seed)")
        #expect(simulation.store.outputs == Array(1...400), "seed \(seed): outputs \(simulation.store.outputs.count), failovers \(simulation.store.epoch)")
        #expect(simulation.store.epoch >= 2, "seed \(seed): the simulation forces at least one failover")
    }

    /// The runs above cover stepping down with the state kept (an idle primary whose lease
    /// lapsed, or that saw a newer epoch), not only reloads: some seeds end with one.
    @Test("some seeds' replicas last stepped down keeping their state")
    func keptStateIsExercised() {
        let seeds = (UInt64(1)...200).filter { seed in
            var simulation = Simulation(seed: seed, replicaCount: 3, inputCount: 400)
            simulation.run()
            return simulation.replicas.contains { $0.machine.lastStepDown?.keptState == true }
        }
        #expect(seeds.count >= 5, "\(seeds.count) seeds")
    }
}

/// A small deterministic generator (SplitMix64) so any failure replays from its seed.
struct SimulationRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
}

struct SimulatedStore {
    var inputCount: LogPosition = 0
    var outputs: [LogPosition] = []
    var epoch: Epoch = 0
    var holder: String?
    var leaseExpiresAt: Duration = .zero

    func lease(now: Duration) -> LeaseRecord? {
        guard let holder, leaseExpiresAt > now else { return nil }
        return LeaseRecord(holder: holder, epoch: epoch, expiresAt: leaseExpiresAt)
    }
}

struct Simulation {
    static let configuration = ReplicaStateMachine.Configuration(
        leaseDuration: .milliseconds(300), renewalInterval: .milliseconds(100),
        snapshotIntervalEntries: 50, snapshotInterval: .seconds(1))

    struct Replica {
        var machine: ReplicaStateMachine
        var applied: LogPosition = 0
        /// Outputs kept for the next append: positions after the machine's watermark.
        var pendingOutputs: [LogPosition] = []
        var snapshotOnDisk: LogPosition = 0
        var isUp = true
        var pausedUntil: Duration = .zero
        /// Bumped on every crash, so responses to a dead incarnation are dropped.
        var incarnation = 0
    }

    enum Message {
        case tick
        case produce
        case restart
        /// The lease holder dies (once per run, so every seed fails over at least once).
        case crashPrimary
        /// A request reaching the store (it is applied even if its sender died meanwhile).
        case request(ReplicaAction, incarnation: Int, sentAt: Duration)
        /// The store's answer reaching the replica.
        case response(Response, incarnation: Int)
    }

    enum Response {
        case observed(LeaseRecord?, LogPosition)
        case applied(through: LogPosition, positions: [LogPosition], emitting: Bool)
        case appended(LogPosition)
        case appendRefused(Epoch)
        case acquired(Epoch, expiresAt: Duration, watermark: LogPosition)
        case acquireRefused(LeaseRecord)
        case renewed(Duration)
        case renewRefused(LeaseRecord)
        case snapshotWritten(LogPosition)
    }

    var random: SimulationRandom
    var store = SimulatedStore()
    var replicas: [Replica]
    let inputTotal: LogPosition
    var now: Duration = .zero
    var queue: [(at: Duration, order: Int, replica: Int, message: Message)] = []
    var order = 0
    var violations: [String] = []

    init(seed: UInt64, replicaCount: Int, inputCount: LogPosition) {
        random = SimulationRandom(state: seed)
        inputTotal = inputCount
        replicas = (0..<replicaCount).map { Replica(machine: ReplicaStateMachine(name: "r\($0)", configuration: Self.configuration)) }
    }

    mutating func schedule(_ message: Message, for replica: Int, after delay: Duration) {
        order += 1
        queue.append((now + delay, order, replica, message))
    }

    func delay(_ random: inout SimulationRandom) -> Duration { .milliseconds(1 + random.below(15)) }

    mutating func run() {
        for index in replicas.indices {
            perform(replicas[index].machine.recovered(at: 0, now: now), replica: index)
            schedule(.tick, for: index, after: .milliseconds(20))
        }
        schedule(.produce, for: -1, after: .milliseconds(1))
        schedule(.crashPrimary, for: -1, after: .seconds(1))
        let failuresEnd = Duration.seconds(8)
        var steps = 0
        while let next = queue.indices.min(by: { (queue[$0].at, queue[$0].order) < (queue[$1].at, queue[$1].order) }) {
            let event = queue.remove(at: next)
            steps += 1
            if steps > 500_000 { violations.append("no progress after \(steps) steps at \(now), queue \(queue.count)"); return }
            now = event.at
            if now > .seconds(30) { violations.append("did not finish"); return }
            switch event.message {
            case .produce:
                if store.inputCount < inputTotal {
                    store.inputCount += 1
                    schedule(.produce, for: -1, after: .milliseconds(random.below(20)))
                }
            case .tick:
                let index = event.replica
                guard replicas[index].isUp else { continue }
                if now < failuresEnd, random.chance(1) { crash(index); continue }
                if now < failuresEnd, random.chance(1), replicas[index].pausedUntil <= now {
                    // SIGSTOP past the lease: it does nothing, its answers wait.
                    replicas[index].pausedUntil = now + .milliseconds(400 + random.below(600))
                }
                if replicas[index].pausedUntil <= now {
                    perform(replicas[index].machine.tick(now: now), replica: index)
                }
                if store.inputCount < inputTotal || !isQuiescent { schedule(.tick, for: index, after: .milliseconds(20)) }
            case .crashPrimary:
                if let holder = store.holder, let index = replicas.indices.first(where: { "r\($0)" == holder }), replicas[index].isUp {
                    crash(index)
                }
            case .restart:
                let index = event.replica
                replicas[index].isUp = true
                replicas[index].machine = ReplicaStateMachine(name: "r\(index)", configuration: Self.configuration)
                replicas[index].applied = replicas[index].snapshotOnDisk
                replicas[index].pendingOutputs = []
                perform(replicas[index].machine.recovered(at: replicas[index].snapshotOnDisk, now: now), replica: index)
                schedule(.tick, for: index, after: .milliseconds(20))
            case .request(let action, let incarnation, let sentAt):
                handleRequest(action, replica: event.replica, incarnation: incarnation, sentAt: sentAt)
            case .response(let response, let incarnation):
                let index = event.replica
                guard replicas[index].isUp, replicas[index].incarnation == incarnation else { continue }
                if replicas[index].pausedUntil > now {
                    order += 1
                    queue.append((replicas[index].pausedUntil, order, index, event.message))
                    continue
                }
                deliver(response, replica: index)
            }
        }
    }

    /// Done when every input has its output and nobody is catching up.
    var isQuiescent: Bool {
        store.outputs.count == Int(inputTotal)
            && replicas.allSatisfy { !$0.isUp || $0.applied == inputTotal || $0.machine.role != .primary }
    }

    mutating func crash(_ index: Int) {
        replicas[index].isUp = false
        replicas[index].incarnation += 1
        schedule(.restart, for: index, after: .milliseconds(100 + random.below(400)))
    }

    mutating func perform(_ action: ReplicaAction, replica index: Int) {
        switch action {
        case .wait:
            return
        case .reload:
            // A reload starts a new incarnation: answers to requests of the old state are dropped.
            replicas[index].incarnation += 1
            replicas[index].machine.reloadStarted()
            replicas[index].applied = replicas[index].snapshotOnDisk
            replicas[index].pendingOutputs = []
            perform(replicas[index].machine.recovered(at: replicas[index].snapshotOnDisk, now: now), replica: index)
        default:
            schedule(.request(action, incarnation: replicas[index].incarnation, sentAt: now), for: index, after: delay(&random))
        }
    }

    mutating func answer(_ response: Response, to index: Int, incarnation: Int) {
        schedule(.response(response, incarnation: incarnation), for: index, after: delay(&random))
    }

    mutating func handleRequest(_ action: ReplicaAction, replica index: Int, incarnation: Int, sentAt: Duration) {
        let name = "r\(index)"
        switch action {
        case .observe:
            answer(.observed(store.lease(now: now), LogPosition(store.outputs.count)), to: index, incarnation: incarnation)
        case .readAndApply(let after, let through, let emitting):
            let available = min(store.inputCount, through ?? .max)
            let end = max(after, available)
            answer(.applied(through: end, positions: end > after ? Array((after + 1)...end) : [], emitting: emitting), to: index, incarnation: incarnation)
        case .appendOutputs(let through, let epoch):
            guard epoch == store.epoch else {
                answer(.appendRefused(store.epoch), to: index, incarnation: incarnation)
                return
            }
            // The runtime appends what it kept; the store checks the log stays gap-free and duplicate-free.
            let kept = replicas[index].incarnation == incarnation ? replicas[index].pendingOutputs.filter { $0 <= through } : []
            for position in kept {
                if position != LogPosition(store.outputs.count) + 1 {
                    violations.append("at \(now): \(name) appended \(position) after \(store.outputs.count)")
                }
                store.outputs.append(position)
            }
            if replicas[index].incarnation == incarnation { replicas[index].pendingOutputs.removeAll { $0 <= through } }
            answer(.appended(through), to: index, incarnation: incarnation)
        case .acquireLease(_, let expiresAt):
            // As the Redis script does: a free lease goes to the bidder at the next epoch.
            if store.lease(now: now) == nil {
                store.epoch += 1
                store.holder = name
                store.leaseExpiresAt = now + Self.configuration.leaseDuration
                answer(.acquired(store.epoch, expiresAt: expiresAt, watermark: LogPosition(store.outputs.count)), to: index, incarnation: incarnation)
            } else {
                let current = store.lease(now: now) ?? LeaseRecord(holder: store.holder ?? "", epoch: store.epoch, expiresAt: store.leaseExpiresAt)
                answer(.acquireRefused(current), to: index, incarnation: incarnation)
            }
        case .renewLease(let epoch, let expiresAt):
            if store.holder == name, store.epoch == epoch, store.leaseExpiresAt > now {
                store.leaseExpiresAt = now + Self.configuration.leaseDuration
                answer(.renewed(expiresAt), to: index, incarnation: incarnation)
            } else {
                answer(.renewRefused(LeaseRecord(holder: store.holder ?? "", epoch: store.epoch, expiresAt: store.leaseExpiresAt)), to: index, incarnation: incarnation)
            }
        case .writeSnapshot(let position):
            if replicas[index].incarnation == incarnation { replicas[index].snapshotOnDisk = position }
            answer(.snapshotWritten(position), to: index, incarnation: incarnation)
        case .wait, .reload:
            break
        }
    }

    mutating func deliver(_ response: Response, replica index: Int) {
        let action: ReplicaAction
        switch response {
        case .observed(let lease, let watermark):
            action = replicas[index].machine.observed(lease: lease, watermark: watermark, now: now)
        case .applied(let through, let positions, let emitting):
            if let first = positions.first, first != replicas[index].applied + 1 {
                violations.append("r\(index) applied \(first) after \(replicas[index].applied)")
            }
            replicas[index].applied = max(replicas[index].applied, through)
            if emitting { replicas[index].pendingOutputs += positions }
            action = replicas[index].machine.entriesApplied(through: through, now: now)
        case .appended(let through):
            action = replicas[index].machine.outputsAppended(through: through, now: now)
        case .appendRefused(let epoch):
            action = replicas[index].machine.appendRefused(currentEpoch: epoch)
        case .acquired(let epoch, let expiresAt, let watermark):
            action = replicas[index].machine.leaseAcquired(epoch: epoch, expiresAt: expiresAt, watermark: watermark, now: now)
        case .acquireRefused(let current):
            action = replicas[index].machine.leaseRefused(current: current)
        case .renewed(let expiresAt):
            action = replicas[index].machine.leaseRenewed(expiresAt: expiresAt, now: now)
        case .renewRefused(let current):
            action = replicas[index].machine.leaseRenewalRefused(current: current)
        case .snapshotWritten(let position):
            action = replicas[index].machine.snapshotWritten(at: position, now: now)
        }
        perform(action, replica: index)
    }
}
