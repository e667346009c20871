import ExchangeReplication
import Testing

/// Transcripts of the replica protocol: each line is a fact and the action it must produce.
@Suite struct ReplicaStateMachineTests {
    static let configuration = ReplicaStateMachine.Configuration(
        leaseDuration: .milliseconds(300), renewalInterval: .milliseconds(100),
        snapshotIntervalEntries: 1_000, snapshotInterval: .seconds(60))

    func ms(_ value: Int) -> Duration { .milliseconds(value) }

    /// A standby at position 10 that has seen a live lease held by "b" at epoch 3, watermark 10.
    func standby() -> ReplicaStateMachine {
        var machine = ReplicaStateMachine(name: "a", configuration: Self.configuration)
        #expect(machine.recovered(at: 10, now: ms(0)) == .observe)
        #expect(machine.observed(lease: LeaseRecord(holder: "b", epoch: 3, expiresAt: ms(300)), watermark: 10, now: ms(0)) == .wait)
        #expect(machine.role == .standby)
        return machine
    }

    @Test("a standby applies only through the watermark and emits nothing")
    func standbyFollowsWatermark() {
        var machine = standby()
        #expect(machine.observed(lease: LeaseRecord(holder: "b", epoch: 3, expiresAt: ms(400)), watermark: 25, now: ms(100))
            == .readAndApply(after: 10, through: 25, emitting: false))
        // A second poll while the read is outstanding asks for nothing more.
        #expect(machine.observed(lease: LeaseRecord(holder: "b", epoch: 3, expiresAt: ms(400)), watermark: 30, now: ms(150)) == .wait)
        #expect(machine.entriesApplied(through: 25, now: ms(160)) == .readAndApply(after: 25, through: 30, emitting: false))
        #expect(machine.entriesApplied(through: 30, now: ms(170)) == .wait)
        #expect(machine.tick(now: ms(200)) == .observe)
        #expect(machine.appliedPosition == 30)
    }

    @Test("when the lease lapses a standby bids at epoch + 1, catches up silently, then emits after the watermark")
    func takeover() {
        var machine = standby()
        #expect(machine.observed(lease: LeaseRecord(holder: "b", epoch: 3, expiresAt: ms(300)), watermark: 12, now: ms(301))
            == .acquireLease(epoch: 4, expiresAt: ms(601)))
        #expect(machine.role == .candidate)
        // The old primary appended through 15 before it died: catch up to 15 without emitting.
        #expect(machine.leaseAcquired(epoch: 4, expiresAt: ms(601), watermark: 15, now: ms(302))
            == .readAndApply(after: 10, through: 15, emitting: false))
        #expect(machine.role == .catchingUp)
        #expect(machine.entriesApplied(through: 15, now: ms(303)) == .readAndApply(after: 15, through: nil, emitting: true))
        #expect(machine.role == .primary)
        #expect(machine.entriesApplied(through: 20, now: ms(304)) == .appendOutputs(through: 20, epoch: 4))
        #expect(machine.outputsAppended(through: 20, now: ms(305)) == .readAndApply(after: 20, through: nil, emitting: true))
        #expect(machine.watermark == 20)
    }

    @Test("losing the race for the lease returns to standby")
    func lostRace() {
        var machine = standby()
        _ = machine.observed(lease: nil, watermark: 10, now: ms(10))
        #expect(machine.role == .candidate)
        #expect(machine.leaseRefused(current: LeaseRecord(holder: "c", epoch: 4, expiresAt: ms(310))) == .wait)
        #expect(machine.role == .standby)
        #expect(machine.epoch == 4)
    }

    @Test("the primary renews every interval and fences itself when its lease lapses unrenewed")
    func renewalAndSelfFencing() {
        var machine = standby()
        _ = machine.observed(lease: nil, watermark: 10, now: ms(0))
        _ = machine.leaseAcquired(epoch: 4, expiresAt: ms(300), watermark: 10, now: ms(0))
        #expect(machine.role == .primary)
        #expect(machine.tick(now: ms(50)) == .wait)  // read outstanding, renewal not due
        #expect(machine.tick(now: ms(100)) == .renewLease(epoch: 4, expiresAt: ms(400)))
        #expect(machine.leaseRenewed(expiresAt: ms(400), now: ms(101)) == .wait)
        #expect(machine.tick(now: ms(200)) == .renewLease(epoch: 4, expiresAt: ms(500)))
        // That renewal never came back (the store is unreachable or the process was paused).
        #expect(machine.tick(now: ms(400)) == .reload)
        #expect(machine.role == .fenced)
        // A read was out when it lapsed: its entries could take the state past the watermark.
        #expect(machine.lastStepDown?.reason == .leaseLapsed && machine.lastStepDown?.keptState == false)
        machine.reloadStarted()
        #expect(machine.role == .recovering)
    }

    /// A primary at epoch 4 whose outputs are durable through 14, with no read or append out.
    func idlePrimary() -> ReplicaStateMachine {
        var machine = standby()
        _ = machine.observed(lease: nil, watermark: 10, now: ms(0))
        _ = machine.leaseAcquired(epoch: 4, expiresAt: ms(300), watermark: 10, now: ms(0))
        #expect(machine.entriesApplied(through: 14, now: ms(1)) == .appendOutputs(through: 14, epoch: 4))
        #expect(machine.outputsAppended(through: 14, now: ms(2)) == .readAndApply(after: 14, through: nil, emitting: true))
        #expect(machine.entriesApplied(through: 14, now: ms(12)) == .wait)
        #expect(machine.role == .primary && machine.watermark == 14)
        return machine
    }

    @Test("an idle primary whose lease lapses steps down to standby keeping its state, and can lead again without a reload")
    func idleLapseKeepsState() {
        var machine = idlePrimary()
        #expect(machine.tick(now: ms(300)) == .observe)
        #expect(machine.role == .standby)
        #expect(machine.lastStepDown?.reason == .leaseLapsed && machine.lastStepDown?.keptState == true)
        #expect(machine.appliedPosition == 14)
        // Its late renewal kept the lease in the store a while: it waits for it like any standby.
        #expect(machine.observed(lease: LeaseRecord(holder: "a", epoch: 4, expiresAt: ms(350)), watermark: 14, now: ms(301)) == .wait)
        #expect(machine.observed(lease: nil, watermark: 14, now: ms(351)) == .acquireLease(epoch: 5, expiresAt: ms(651)))
        #expect(machine.leaseAcquired(epoch: 5, expiresAt: ms(651), watermark: 14, now: ms(352)) == .readAndApply(after: 14, through: nil, emitting: true))
        #expect(machine.role == .primary)
        #expect(machine.entriesApplied(through: 16, now: ms(353)) == .appendOutputs(through: 16, epoch: 5))
    }

    @Test("an idle primary deposed by a newer epoch follows the new primary from its own state")
    func idleDepositionKeepsState() {
        var machine = idlePrimary()
        #expect(machine.observed(lease: LeaseRecord(holder: "b", epoch: 5, expiresAt: ms(400)), watermark: 14, now: ms(20)) == .observe)
        #expect(machine.lastStepDown?.reason == .deposed(epoch: 5) && machine.lastStepDown?.keptState == true)
        #expect(machine.observed(lease: LeaseRecord(holder: "b", epoch: 5, expiresAt: ms(400)), watermark: 20, now: ms(21))
            == .readAndApply(after: 14, through: 20, emitting: false))
        #expect(machine.epoch == 5)
    }

    @Test("every step-down reason has its metric label")
    func stepDownKinds() {
        let reasons: [ReplicaStateMachine.StepDown] = [.leaseLapsed, .deposed(epoch: 2), .refused(epoch: 2), .appendFailed, .inputTrimmed]
        #expect(reasons.map(\.kind) == ReplicaStateMachine.StepDown.kinds)
    }

    @Test("a primary with outputs not yet durable reloads when it loses the lease")
    func lapseWithPendingOutputsReloads() {
        var machine = idlePrimary()
        #expect(machine.tick(now: ms(20)) == .readAndApply(after: 14, through: nil, emitting: true))
        #expect(machine.entriesApplied(through: 18, now: ms(21)) == .appendOutputs(through: 18, epoch: 4))
        #expect(machine.appendRefused(currentEpoch: 4) == .reload)  // an unknown outcome
        #expect(machine.role == .fenced)
        #expect(machine.lastStepDown?.keptState == false)
    }

    @Test("an append Redis's replicas did not acknowledge in time keeps the primary: it goes on renewing, and appends the same outputs again")
    func unacknowledgedAppend() {
        var machine = idlePrimary()
        #expect(machine.tick(now: ms(20)) == .readAndApply(after: 14, through: nil, emitting: true))
        #expect(machine.entriesApplied(through: 18, now: ms(21)) == .appendOutputs(through: 18, epoch: 4))
        #expect(machine.appendUnacknowledged() == .wait)
        #expect(machine.role == .primary)
        #expect(machine.lastStepDown == nil)
        #expect(machine.tick(now: ms(22)) == .readAndApply(after: 18, through: nil, emitting: true))
        #expect(machine.entriesApplied(through: 18, now: ms(23)) == .appendOutputs(through: 18, epoch: 4), "the same outputs, again")
        #expect(machine.appendUnacknowledged() == .wait)
        #expect(machine.tick(now: ms(110)) == .renewLease(epoch: 4, expiresAt: ms(410)))
        #expect(machine.leaseRenewed(expiresAt: ms(410), now: ms(111)) == .wait)
        #expect(machine.tick(now: ms(112)) == .readAndApply(after: 18, through: nil, emitting: true))
        #expect(machine.entriesApplied(through: 20, now: ms(113)) == .appendOutputs(through: 20, epoch: 4))
        #expect(machine.outputsAppended(through: 20, now: ms(114)) == .readAndApply(after: 20, through: nil, emitting: true))
    }

    @Test("a refused append (a newer epoch exists) fences the old primary: it reloads and rejoins as standby")
    func refusedAppend() {
        var machine = standby()
        _ = machine.observed(lease: nil, watermark: 10, now: ms(0))
        _ = machine.leaseAcquired(epoch: 4, expiresAt: ms(300), watermark: 10, now: ms(0))
        #expect(machine.entriesApplied(through: 14, now: ms(1)) == .appendOutputs(through: 14, epoch: 4))
        #expect(machine.appendRefused(currentEpoch: 5) == .reload)
        #expect(machine.role == .fenced)
        #expect(machine.epoch == 5)
        machine.reloadStarted()
        // Reloaded from a snapshot at 10: it applied 11...14 but never emitted them.
        #expect(machine.recovered(at: 10, now: ms(2)) == .observe)
        #expect(machine.observed(lease: LeaseRecord(holder: "b", epoch: 5, expiresAt: ms(300)), watermark: 16, now: ms(3))
            == .readAndApply(after: 10, through: 16, emitting: false))
    }

    @Test("a primary that sees another holder or a newer epoch fences itself")
    func observedDeposition() {
        var machine = standby()
        _ = machine.observed(lease: nil, watermark: 10, now: ms(0))
        _ = machine.leaseAcquired(epoch: 4, expiresAt: ms(300), watermark: 10, now: ms(0))
        #expect(machine.observed(lease: LeaseRecord(holder: "a", epoch: 4, expiresAt: ms(300)), watermark: 10, now: ms(5)) == .wait)
        #expect(machine.observed(lease: LeaseRecord(holder: "b", epoch: 5, expiresAt: ms(400)), watermark: 10, now: ms(6)) == .reload)
    }

    @Test("appends stay one at a time; outputs applied meanwhile go in the next append")
    func oneAppendAtATime() {
        var machine = standby()
        _ = machine.observed(lease: nil, watermark: 10, now: ms(0))
        _ = machine.leaseAcquired(epoch: 4, expiresAt: ms(300), watermark: 10, now: ms(0))
        #expect(machine.entriesApplied(through: 12, now: ms(1)) == .appendOutputs(through: 12, epoch: 4))
        #expect(machine.tick(now: ms(2)) == .wait)
        #expect(machine.entriesApplied(through: 15, now: ms(3)) == .wait)
        #expect(machine.outputsAppended(through: 12, now: ms(4)) == .appendOutputs(through: 15, epoch: 4))
        #expect(machine.outputsAppended(through: 15, now: ms(5)) == .readAndApply(after: 15, through: nil, emitting: true))
    }

    @Test("snapshots every N entries (a standby half an interval off) or T seconds, one at a time, never at an unchanged position")
    func snapshotSchedule() {
        var machine = ReplicaStateMachine(name: "a", configuration: .init(
            leaseDuration: .seconds(3), renewalInterval: .seconds(1), snapshotIntervalEntries: 100, snapshotInterval: .seconds(10)))
        _ = machine.recovered(at: 0, now: .zero)
        _ = machine.observed(lease: LeaseRecord(holder: "b", epoch: 1, expiresAt: .seconds(3)), watermark: 150, now: .zero)
        // A standby's grid is shifted by half an interval: 50, 150, 250...
        #expect(machine.entriesApplied(through: 49, now: .seconds(1)) == .readAndApply(after: 49, through: 150, emitting: false))
        #expect(machine.entriesApplied(through: 50, now: .seconds(1)) == .writeSnapshot(at: 50))
        // While it is written the standby keeps applying; no second snapshot starts.
        #expect(machine.tick(now: .seconds(1)) == .observe)
        #expect(machine.observed(lease: LeaseRecord(holder: "b", epoch: 1, expiresAt: .seconds(4)), watermark: 250, now: .seconds(1))
            == .readAndApply(after: 50, through: 250, emitting: false))
        #expect(machine.entriesApplied(through: 160, now: .seconds(2)) == .readAndApply(after: 160, through: 250, emitting: false))
        #expect(machine.snapshotWritten(at: 50, now: .seconds(2)) == .wait)
        #expect(machine.entriesApplied(through: 170, now: .seconds(2)) == .writeSnapshot(at: 170))
        _ = machine.snapshotWritten(at: 170, now: .seconds(3))
        #expect(machine.entriesApplied(through: 249, now: .seconds(3)) == .readAndApply(after: 249, through: 250, emitting: false))
        #expect(machine.entriesApplied(through: 250, now: .seconds(3)) == .writeSnapshot(at: 250))
        _ = machine.snapshotWritten(at: 250, now: .seconds(3))
        // By time: 10 s later with only a few entries applied.
        #expect(machine.tick(now: .seconds(3)) == .observe)
        #expect(machine.observed(lease: LeaseRecord(holder: "b", epoch: 1, expiresAt: .seconds(20)), watermark: 260, now: .seconds(3))
            == .readAndApply(after: 250, through: 260, emitting: false))
        #expect(machine.entriesApplied(through: 255, now: .seconds(12)) == .readAndApply(after: 255, through: 260, emitting: false))
        #expect(machine.entriesApplied(through: 256, now: .seconds(13)) == .writeSnapshot(at: 256))
    }

    @Test("a primary snapshots on the unshifted grid: multiples of the interval")
    func primarySnapshotGrid() {
        var machine = ReplicaStateMachine(name: "a", configuration: .init(
            leaseDuration: .seconds(3), renewalInterval: .seconds(1), snapshotIntervalEntries: 100, snapshotInterval: .seconds(60)))
        _ = machine.recovered(at: 0, now: .zero)
        _ = machine.observed(lease: nil, watermark: 0, now: .zero)
        _ = machine.leaseAcquired(epoch: 1, expiresAt: .seconds(3), watermark: 0, now: .zero)
        #expect(machine.role == .primary)
        #expect(machine.entriesApplied(through: 99, now: .seconds(1)) == .appendOutputs(through: 99, epoch: 1))
        #expect(machine.outputsAppended(through: 99, now: .seconds(1)) == .readAndApply(after: 99, through: nil, emitting: true))
        #expect(machine.entriesApplied(through: 100, now: .seconds(1)) == .appendOutputs(through: 100, epoch: 1))
        #expect(machine.outputsAppended(through: 100, now: .seconds(1)) == .writeSnapshot(at: 100))
    }

    @Test("a standby's read still out when it wins the lease finishes the catch-up; no second read")
    func takeoverWithReadOutstanding() {
        var machine = standby()
        #expect(machine.observed(lease: LeaseRecord(holder: "b", epoch: 3, expiresAt: ms(300)), watermark: 20, now: ms(100))
            == .readAndApply(after: 10, through: 20, emitting: false))
        #expect(machine.observed(lease: nil, watermark: 20, now: ms(301)) == .acquireLease(epoch: 4, expiresAt: ms(601)))
        #expect(machine.leaseAcquired(epoch: 4, expiresAt: ms(601), watermark: 25, now: ms(302)) == .wait)
        #expect(machine.entriesApplied(through: 20, now: ms(303)) == .readAndApply(after: 20, through: 25, emitting: false))
        #expect(machine.entriesApplied(through: 25, now: ms(304)) == .readAndApply(after: 25, through: nil, emitting: true))
        #expect(machine.role == .primary)
    }

    @Test("a lease grant that arrives after a newer epoch was seen is ignored")
    func supersededGrant() {
        var machine = standby()
        _ = machine.observed(lease: nil, watermark: 10, now: ms(400))
        #expect(machine.role == .candidate)
        _ = machine.observed(lease: LeaseRecord(holder: "c", epoch: 5, expiresAt: ms(900)), watermark: 10, now: ms(450))
        #expect(machine.leaseAcquired(epoch: 4, expiresAt: ms(700), watermark: 10, now: ms(460)) == .wait)
        #expect(machine.role == .standby)
    }

    @Test("a trimmed input log makes any live role reload")
    func truncatedLog() {
        var machine = standby()
        #expect(machine.logTruncated() == .reload)
        #expect(machine.role == .fenced)
        #expect(machine.logTruncated() == .wait)
        machine.reloadStarted()
        #expect(machine.recovered(at: 500, now: ms(10)) == .observe)
        #expect(machine.appliedPosition == 500)
    }

    @Test("a failed snapshot frees the schedule: the next due one starts")
    func failedSnapshot() {
        var machine = ReplicaStateMachine(name: "a", configuration: .init(
            leaseDuration: .seconds(3), renewalInterval: .seconds(1), snapshotIntervalEntries: 10, snapshotInterval: .seconds(60)))
        _ = machine.recovered(at: 0, now: .zero)
        _ = machine.observed(lease: LeaseRecord(holder: "b", epoch: 1, expiresAt: .seconds(3)), watermark: 40, now: .zero)
        #expect(machine.entriesApplied(through: 10, now: .seconds(1)) == .writeSnapshot(at: 10))
        #expect(machine.snapshotFailed(now: .seconds(1)) == .wait)
        #expect(machine.entriesApplied(through: 11, now: .seconds(1)) == .writeSnapshot(at: 11))
    }
}
