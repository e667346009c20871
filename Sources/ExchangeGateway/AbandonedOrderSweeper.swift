import ExchangeAccess
import ExchangeCore
import ExchangeRedis
import ExchangeReplication
import Foundation
import Logging
import Metrics
import Synchronization

/// Settles the orders a gateway abandoned: it stopped (killed, its host lost) after an order's
/// admission wrote the record, marked unsettled (`OrderRecord.isUnsettled`), and before it
/// learnt the outcome of the order's append or handed the entry to its `AppendSettler`.
/// Without this such an order would stay marked for good: listed as NEW, never frozen, its
/// client order id answering -1007 to every retry.
///
/// Every marked order is in its worker id's set (`GatewayKeys.unsettledOrders`) from its
/// admission until its mark goes. Acquiring a worker id's lease cuts its earlier holders off
/// for good (`WorkerLease`: their admissions and appends require their token in the lease, and
/// they cannot take it back), so the orders its set holds at that moment (a `Snapshot`) can
/// only be in the clearing input logs at or below each log's end as read then. Once the shared
/// projection has applied every partition's outputs up to those ends, each of them clearing
/// took has lost its mark (clearing answers every place it reads: it freezes the order's
/// funds or refuses it, and the projector removes the mark on either). One still marked never
/// reached a log: it is forgotten as an absent append is (`AppendSettler.forgetOrderFunction`).
/// No clock decides, and no log is searched; clearing down only holds the verdict back.
///
/// A snapshot is taken by each new holder of a worker id as it starts (`OrderSubmitter.start`),
/// and by a scan every `scanInterval` (longer than a lease renewal interval) of each worker
/// id nobody held with a non-empty set in two scans running, under a lease held for the
/// snapshot only. Snapshots live in memory only: the set is the durable record, so an
/// instance that stops before settling them leaves them for the next snapshot.
final class AbandonedOrderSweeper: Sendable {
    /// A worker id's marked orders as its lease was acquired, and where each partition's input
    /// log ended then.
    struct Snapshot: Sendable, Equatable {
        var worker: UInt16
        var orders: [OrderID]
        /// Per partition (by index), its last input position at the acquisition.
        var inputEnds: [LogPosition]
    }

    /// How often snapshots wait to be settled are looked at again.
    static let settleInterval = Duration.seconds(1)
    /// How long the lease is held for a scan's snapshot, at most (it is released at once).
    static let snapshotLease = Duration.seconds(10)

    let client: RedisClient
    let partitionCount: Int
    /// How often worker ids nobody holds are looked at.
    let scanInterval: Duration
    let logger: Logger
    private let pending = Mutex<[Snapshot]>([])
    private let landedCount = Counter(label: "exchange_gateway_abandoned_orders_total", dimensions: [("verdict", "landed")])
    private let absentCount = Counter(label: "exchange_gateway_abandoned_orders_total", dimensions: [("verdict", "absent")])

    init(client: RedisClient, partitionCount: Int, scanInterval: Duration, logger: Logger) {
        self.client = client
        self.partitionCount = partitionCount
        self.scanInterval = scanInterval
        self.logger = logger
    }

    /// Reads worker id `worker`'s marked orders and the input logs' ends: call it right after
    /// acquiring the lease, before anything is admitted under it.
    func snapshot(of worker: UInt16) async throws -> Snapshot {
        let orders = try await client.send(["SMEMBERS", GatewayKeys.unsettledOrders(ofWorker: worker)]).array?
            .compactMap { $0.string.flatMap { OrderID($0) } } ?? []
        guard !orders.isEmpty else { return Snapshot(worker: worker, orders: [], inputEnds: []) }
        let ends = try await client.pipeline((0..<partitionCount).map { ["GET", ReplicaLogKeys.clearingPartition(UInt32($0)).sequence] })
        return Snapshot(worker: worker, orders: orders.sorted(), inputEnds: ends.map { $0.string.flatMap { LogPosition($0) } ?? 0 })
    }

    /// Takes `snapshot` to settle (nothing, if it holds no order).
    func adopt(_ snapshot: Snapshot) {
        guard !snapshot.orders.isEmpty else { return }
        logger.info("gateway.submit orders an earlier holder of this worker id left unsettled: settling them once clearing has read the logs this far",
                       metadata: ["worker.id": "\(snapshot.worker)", "orders": "\(snapshot.orders.count)", "input.ends": "\(snapshot.inputEnds)"])
        pending.withLock { $0.append(snapshot) }
    }

    /// Settles what is adopted, and scans unheld worker ids, until cancelled.
    func run() async {
        var lastScan = ContinuousClock.now - scanInterval
        var seenUnheld: Set<UInt16> = []
        while !Task.isCancelled {
            if lastScan.duration(to: .now) >= scanInterval {
                lastScan = .now
                do { seenUnheld = try await scanUnheldWorkers(seenBefore: seenUnheld) } catch {
                    logger.warning("gateway.submit scan for abandoned orders failed: \(error)")
                }
            }
            for snapshot in pending.withLock({ $0 }) {
                do {
                    guard try await settle(snapshot) else { continue }
                    pending.withLock { $0.removeAll { $0 == snapshot } }
                } catch {
                    logger.warning("gateway.submit could not settle abandoned orders: \(error)", metadata: ["worker.id": "\(snapshot.worker)"])
                }
            }
            try? await Task.sleep(for: Self.settleInterval)
        }
    }

    /// Finds the worker ids nobody holds whose set is not empty, and snapshots those of them
    /// that were so in the previous scan too (`seenBefore`) and have no snapshot waiting here,
    /// each under a lease held only for the snapshot. A holder whose lease lapsed (Redis out
    /// of reach longer than the lease) takes it back at its next renewal, sooner than the
    /// next scan, and is left alone. Returns the worker ids found unheld, for the next scan.
    func scanUnheldWorkers(seenBefore: Set<UInt16>) async throws -> Set<UInt16> {
        let workers = Array(0...SnowflakeGenerator.maximumWorker)
        let replies = try await client.pipeline(workers.flatMap { [["EXISTS", GatewayKeys.unsettledOrders(ofWorker: $0)], ["EXISTS", GatewayKeys.worker($0)]] })
        let unheld = Set(workers.filter { replies[2 * Int($0)].integer == 1 && replies[2 * Int($0) + 1].integer == 0 })
        let waiting = Set(pending.withLock { $0.map(\.worker) })
        for worker in unheld.intersection(seenBefore).subtracting(waiting).sorted() {
            let token = "sweeper-" + UUID().uuidString
            guard try await WorkerLease.acquire(worker, token: token, duration: Self.snapshotLease, on: client) != nil else { continue }
            let snapshot: Snapshot
            do {
                snapshot = try await self.snapshot(of: worker)
            } catch {
                try? await WorkerLease.release(worker, token: token, on: client)
                throw error
            }
            try await WorkerLease.release(worker, token: token, on: client)
            adopt(snapshot)
        }
        return unheld
    }

    /// Orders one settling script takes at most (a snapshot may hold many thousands: a
    /// gateway killed while clearing lagged).
    static let settleChunk = 512

    /// Settles `snapshot` if the projection has applied every partition's outputs up to its
    /// input ends: true when done, false when that is still to come. A script with no order
    /// checks first; then each chunk's script checks again and decides on what it reads, so
    /// the check and the verdict see one state.
    func settle(_ snapshot: Snapshot) async throws -> Bool {
        let ends = snapshot.inputEnds.enumerated().filter { $0.element > 0 }
        let outputs = ends.map { ReplicaLogKeys.clearingPartition(UInt32($0.offset)).output }
        let endArguments = [String(ends.count)] + ends.map { String($0.element) }
        guard try await Self.settled(try await Self.settleScript.run(on: client, keys: outputs + [GatewayKeys.cursor], arguments: endArguments)) != nil else {
            return false
        }
        var kept = 0
        var forgotten: [String] = []
        for start in stride(from: 0, to: snapshot.orders.count, by: Self.settleChunk) {
            let orders = Array(snapshot.orders[start..<min(start + Self.settleChunk, snapshot.orders.count)])
            // Only to name each record's user keys: the script decides on what it reads itself.
            let users = try await client.pipeline(orders.map { ["HGET", GatewayKeys.order($0), "u"] })
            let placements = zip(orders, users).map { orderID, user in
                AppendSettler.UnknownAppend.Placement(orderID: orderID, userID: user.string.flatMap { UserID($0) } ?? 0)
            }
            let reply = try await Self.settleScript.run(
                on: client, keys: outputs + [GatewayKeys.cursor] + placements.flatMap(AppendSettler.forgetKeys),
                arguments: endArguments + orders.map { String($0) })
            guard let chunk = try Self.settled(reply) else { throw RedisError.unexpectedReply("abandoned orders: the projection went back \(reply)") }
            kept += chunk.kept
            forgotten += chunk.forgotten
        }
        landedCount.increment(by: kept)
        absentCount.increment(by: forgotten.count)
        let metadata: Logger.Metadata = [
            "worker.id": "\(snapshot.worker)", "landed": "\(kept)", "forgotten.count": "\(forgotten.count)", "forgotten": "\(forgotten.prefix(100))",
        ]
        if forgotten.isEmpty {
            logger.info("gateway.submit orders an earlier holder left settled: clearing answered them all", metadata: metadata)
        } else {
            logger.warning("gateway.submit abandoned orders settled: those clearing answered stand, the others never reached a log and are forgotten", metadata: metadata)
        }
        return true
    }

    /// A reply of `settleScript`: nil for -1 (not projected that far yet), else what it did.
    static func settled(_ reply: RedisReply) throws -> (kept: Int, forgotten: [String])? {
        if reply.integer == -1 { return nil }
        guard let parts = reply.array, parts.count == 2, let kept = parts[0].integer, let forgotten = parts[1].array else {
            throw RedisError.unexpectedReply("abandoned orders \(reply)")
        }
        return (Int(kept), forgotten.compactMap(\.string))
    }

    /// KEYS: the output logs of the partitions whose input end is above 0, `gw:cursor`, then
    /// per order its `AppendSettler.forgetKeys`. ARGV: how many output logs, their input ends,
    /// then the order ids (none: only the check). -1 (nothing done) unless the cursor of each
    /// output log is at an entry answering an input at or past its end; else each order still
    /// marked is forgotten, every order leaves its worker id's set, and the reply is
    /// {kept, forgotten}: how many records stood unmarked, and the ids forgotten.
    static let settleScript = RedisScript(source: AppendSettler.forgetOrderFunction + """
        local logs = tonumber(ARGV[1])
        for i = 1, logs do
          local cursor = redis.call('HGET', KEYS[logs + 1], KEYS[i])
          if not cursor then return -1 end
          local entry = redis.call('XRANGE', KEYS[i], cursor, cursor)[1]
          local position = nil
          if entry then
            for j = 1, #entry[2], 2 do if entry[2][j] == 'p' then position = tonumber(entry[2][j + 1]) end end
          end
          if not position or position < tonumber(ARGV[1 + i]) then return -1 end
        end
        local kept, forgotten = 0, {}
        for i = logs + 2, #ARGV do
          local k = logs + 2 + (i - logs - 2) * 5
          if redis.call('HEXISTS', KEYS[k], '\(OrderRecord.unsettledField)') == 1 then
            forgetOrder(k, ARGV[i])
            table.insert(forgotten, ARGV[i])
          else
            if redis.call('EXISTS', KEYS[k]) == 1 then kept = kept + 1 end
            redis.call('SREM', KEYS[k + 4], ARGV[i])
          end
        end
        return {kept, forgotten}
        """)
}
