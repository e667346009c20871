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
/// for good (`WorkerLease`), so the orders its set holds at that moment (a `Snapshot`) can
/// only be in the clearing input logs at or below each log's end as read then. Once the shared
/// projection has applied every partition's outputs up to those ends, each of them clearing
/// took has lost its mark (clearing answers every place it reads: it freezes the order's
/// funds or refuses it, and the projector removes the mark on either). One still marked never
/// reached a log: it is forgotten as an absent append is (`AppendSettler.forget`). No clock
/// decides, and no log is searched.
///
/// A snapshot is taken by each new holder of a worker id as it starts (`OrderSubmitter.start`),
/// and every `scanInterval` for each worker id nobody holds whose set is not empty, under the
/// lease for that moment. Snapshots live in memory only: the set is the durable record, so an
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
        logger.warning("gateway.submit orders an earlier holder of this worker id left unsettled: settling them once clearing has read the logs this far",
                       metadata: ["worker.id": "\(snapshot.worker)", "orders": "\(snapshot.orders.count)", "input.ends": "\(snapshot.inputEnds)"])
        pending.withLock { $0.append(snapshot) }
    }

    /// Settles what is adopted, and scans unheld worker ids, until cancelled.
    func run() async {
        var lastScan = ContinuousClock.now - scanInterval
        while !Task.isCancelled {
            if lastScan.duration(to: .now) >= scanInterval {
                lastScan = .now
                do { try await scanUnheldWorkers() } catch { logger.warning("gateway.submit scan for abandoned orders failed: \(error)") }
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

    /// Snapshots each worker id that nobody holds and whose set is not empty (and has no
    /// snapshot waiting here already), under a lease held only for the snapshot.
    func scanUnheldWorkers() async throws {
        let sets = try await client.pipeline((0...SnowflakeGenerator.maximumWorker).map { ["EXISTS", GatewayKeys.unsettledOrders(ofWorker: $0)] })
        let waiting = Set(pending.withLock { $0.map(\.worker) })
        for worker in 0...SnowflakeGenerator.maximumWorker where sets[Int(worker)].integer == 1 && !waiting.contains(worker) {
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
    }

    /// Settles `snapshot` if the projection has applied every partition's outputs up to its
    /// input ends: true when done, false when that is still to come.
    func settle(_ snapshot: Snapshot) async throws -> Bool {
        guard try await projected(through: snapshot.inputEnds) else { return false }
        let records = try await client.pipeline(snapshot.orders.map { ["HMGET", GatewayKeys.order($0), "u", OrderRecord.unsettledField] })
        var absent: [AppendSettler.UnknownAppend.Placement] = []
        /// Unmarked, or with no record any more (forgotten meanwhile): only the set may still name them.
        var settled: [OrderID] = []
        var landed = 0
        for (orderID, record) in zip(snapshot.orders, records) {
            let fields = record.array ?? []
            let user = fields.first?.string.flatMap { UserID($0) }
            if let user, fields.count == 2, fields[1].string != nil {
                absent.append(.init(orderID: orderID, userID: user))
            } else {
                settled.append(orderID)
                if user != nil { landed += 1 }
            }
        }
        if !absent.isEmpty { try await AppendSettler.forget(absent, on: client) }
        if !settled.isEmpty { _ = try await client.send(["SREM", GatewayKeys.unsettledOrders(ofWorker: snapshot.worker)] + settled.map { String($0) }) }
        landedCount.increment(by: landed)
        absentCount.increment(by: absent.count)
        logger.warning("gateway.submit abandoned orders settled: those clearing answered stand, the others never reached a log and are forgotten",
                       metadata: ["worker.id": "\(snapshot.worker)", "landed": "\(landed)", "absent": "\(absent.map(\.orderID))"])
        return true
    }

    /// Whether the shared projection (`gw:cursor`) has applied each partition's outputs up to
    /// the input position `ends[partition]`.
    func projected(through ends: [LogPosition]) async throws -> Bool {
        for (partition, end) in ends.enumerated() where end > 0 {
            let keys = ReplicaLogKeys.clearingPartition(UInt32(partition))
            guard let cursor = try await client.send(["HGET", GatewayKeys.cursor, keys.output]).string.flatMap(StreamID.init),
                  let position = try await ReplicaLogStore(keys: keys, client: client).outputPosition(at: cursor),
                  position >= end else { return false }
        }
        return true
    }
}
