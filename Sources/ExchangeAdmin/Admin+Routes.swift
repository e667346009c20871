import ExchangeAccess
import ExchangeCluster
import ExchangeClusterClient
import ExchangeClusterStore
import ExchangeCore
import ExchangeHTTPAPI
import ExchangePostgres
import ExchangeRedis
import Foundation
import HTTPTypes
import Hummingbird
import ExchangeWebUI

extension Admin {
    /// Every staff endpoint, with the action `StaffPolicy` is asked about.
    public static let routes: [AdminRoute] = [
        AdminRoute(.listStaff, .get, "staff") { admin, _, _ in JSONValue.array(try await admin.staff.all().map(Admin.json)).response() },
        AdminRoute(.createStaff, .post, "staff") { admin, request, call in try await admin.createStaff(&request, call) },
        AdminRoute(.changeStaffRole, .put, "staff/:id/role") { admin, request, call in try await admin.changeStaff(&request, call, field: "role") },
        AdminRoute(.disableStaff, .put, "staff/:id/disabled") { admin, request, call in try await admin.changeStaff(&request, call, field: "disabled") },

        AdminRoute(.listPairs, .get, "pairs") { admin, _, _ in try await admin.listPairs() },
        AdminRoute(.addPair, .post, "pairs") { admin, request, call in try await admin.addPair(&request, call) },
        AdminRoute(.changePair, .put, "pairs/:symbol") { admin, request, call in try await admin.changePair(&request, call) },
        AdminRoute(.setPairStatus, .put, "pairs/:symbol/status") { admin, request, call in try await admin.setPairStatus(&request, call) },

        AdminRoute(.listHalts, .get, "halts") { admin, _, _ in try await admin.listHalts() },
        AdminRoute(.haltMarkets, .post, "halts") { admin, request, call in try await admin.halt(&request, call) },
        AdminRoute(.resumeMarkets, .post, "halts/resume") { admin, request, call in try await admin.resume(&request, call) },

        AdminRoute(.searchUsers, .get, "users") { admin, request, _ in
            let query = request.uri.queryParameters.get("q") ?? ""
            return JSONValue.array(try await admin.users.search(query, limit: 100)).response()
        },
        AdminRoute(.viewUser, .get, "users/:id") { admin, _, call in
            guard let user = try await admin.users.user(try call.id("id")) else { throw BinanceError.notFoundEntity }
            return user.response()
        },
        AdminRoute(.viewUserOrders, .get, "users/:id/orders") { admin, _, call in
            let id = try await admin.existingUser(call)
            return JSONValue.array(try await admin.users.orders(of: id, limit: 500)).response()
        },
        AdminRoute(.viewUserBalances, .get, "users/:id/balances") { admin, _, call in
            let id = try await admin.existingUser(call)
            return JSONValue.array(try await admin.users.balances(of: id)).response()
        },
        AdminRoute(.viewLoginHistory, .get, "users/:id/logins") { admin, _, call in
            let id = try await admin.existingUser(call)
            return JSONValue.array(try await admin.users.loginHistory(of: id, limit: 200)).response()
        },
        AdminRoute(.lockUser, .post, "users/:id/lock") { admin, _, call in try await admin.setUserLocked(call, true) },
        AdminRoute(.unlockUser, .post, "users/:id/unlock") { admin, _, call in try await admin.setUserLocked(call, false) },
        AdminRoute(.forceLogout, .post, "users/:id/logout") { admin, _, call in
            let id = try await admin.existingUser(call)
            try await admin.users.endSessions(id, nowSeconds: WallClock.milliseconds() / 1_000)
            try await admin.audit(call.member, "user.force_logout", target: "user:\(id)", ip: call.ip)
            return JSONValue.object([("userId", .integer(id)), ("sessionsEnded", true)]).response()
        },
        AdminRoute(.resetSecondFactor, .post, "users/:id/reset-second-factor") { admin, _, call in
            let id = try call.id("id")
            guard try await admin.users.resetSecondFactor(id) else { throw BinanceError.notFoundEntity }
            try await admin.audit(call.member, "user.reset_second_factor", target: "user:\(id)", ip: call.ip)
            return JSONValue.object([("userId", .integer(id)), ("secondFactor", false)]).response()
        },
        AdminRoute(.disableAPIKey, .post, "users/:id/api-keys/:key/disable") { admin, _, call in
            let id = try call.id("id")
            let key = try call.text("key")
            guard try await admin.users.disableKey(key, of: id) else { throw BinanceError.notFoundEntity }
            try await admin.audit(call.member, "api_key.disable", target: "user:\(id)", ip: call.ip, after: .object([("apiKey", .string(key))]))
            return JSONValue.object([("apiKey", .string(key)), ("enabled", false)]).response()
        },

        AdminRoute(.searchAuditLog, .get, "audit") { admin, request, _ in try await admin.searchAudit(request, csv: false) },
        AdminRoute(.exportAuditLog, .get, "audit.csv") { admin, request, _ in try await admin.searchAudit(request, csv: true) },
        AdminRoute(.searchAuditLog, .get, "audit/verify") { admin, _, _ in
            switch try await AuditLogStore(postgres: admin.postgres, logger: admin.logger).verify() {
            case .intact(let rows, let head):
                return JSONValue.object([("intact", true), ("rows", .integer(rows)), ("head", .string(RequestSignature.hexString(head)))]).response()
            case .broken(let id, let reason):
                return JSONValue.object([("intact", false), ("brokenAt", .integer(id)), ("reason", .string(reason))]).response()
            }
        },

        AdminRoute(.viewCluster, .get, "cluster") { admin, _, _ in try await admin.clusterStatus() },

        AdminRoute(.listWithdrawals, .get, "withdrawals") { admin, request, _ in try await admin.listWithdrawals(request) },
        AdminRoute(.approveWithdrawal, .post, "withdrawals/:id/approve") { admin, _, call in try await admin.approveWithdrawal(call) },
        AdminRoute(.rejectWithdrawal, .post, "withdrawals/:id/reject") { admin, request, call in try await admin.rejectWithdrawal(&request, call) },
        AdminRoute(.listWalletCases, .get, "wallet/cases") { admin, _, _ in try await admin.listWalletCases() },
        AdminRoute(.resolveWalletCase, .post, "wallet/cases/:id/resolve") { admin, request, call in try await admin.resolveWalletCase(&request, call) },
    ]

    /// The staff pages and the admin API: staff sessions (no action needed), then every
    /// `routes` entry behind `authorize`.
    public func router() -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: BinanceErrorMiddleware(logger: logger))
        router.add(middleware: MetricsMiddleware())
        WebPages.addAdminPages(to: router)
        let api = router.group("api/v1/admin")
        api.post("sessions") { request, context in
            var request = request
            return try await self.login(&request, ip: context.clientIP)
        }
        api.post("sessions/logout") { request, _ in
            let member = try await self.staffMember(request)
            let token = request.headers[.authorization]!.dropFirst(7)
            _ = try await self.redis.send(["SET", Self.revokedKey(token), "1", "EX", String(self.configuration.sessionLifetimeSeconds)])
            self.logger.info("admin.logout", metadata: ["staff": "\(member.email)"])
            return JSONValue.object([]).response()
        }
        api.get("me") { request, _ in
            let member = try await self.staffMember(request)
            let allowed = AdminAction.allCases.filter { StaffPolicy.allows(member.role, $0) }.map { JSONValue.string($0.rawValue) }
            guard case .object(var members) = Self.json(member) else { return Self.json(member).response() }
            members.append(("allowedActions", .array(allowed)))
            return JSONValue.object(members).response()
        }
        api.post("me/second-factor") { request, _ in
            let member = try await self.staffMember(request)
            guard let secret = try await self.staff.beginTOTP(staff: member.id) else { throw BinanceError.invalidRequest("A second factor is enabled already.") }
            return JSONValue.object([
                ("secret", .string(TOTP.base32(secret))),
                ("uri", .string(TOTP.provisioningURI(secret: secret, account: member.email, issuer: "OpenExchange admin"))),
            ]).response()
        }
        api.post("me/second-factor/confirm") { request, context in
            var request = request
            let member = try await self.staffMember(request)
            let code = try await JSONBody.read(&request, maximumBytes: self.configuration.maximumBodyBytes).string("code")
            guard try await self.staff.confirmTOTP(staff: member.id, code: code, nowSeconds: WallClock.milliseconds() / 1_000) else {
                throw BinanceError.badSecondFactor
            }
            try await self.audit(member, "staff.second_factor.enable", target: "staff:\(member.id)", ip: context.clientIP)
            return JSONValue.object([("secondFactor", true)]).response()
        }
        api.get("routes") { _, _ in
            JSONValue.array(Self.routes.map { route in
                .object([("action", .string(route.action.rawValue)), ("method", .string(route.method.rawValue)), ("path", .string(route.path))])
            }).response()
        }
        for route in Self.routes {
            api.on(RouterPath(route.path), method: route.method) { request, context in
                let member = try await self.authorize(request, route.action)
                var request = request
                return try await route.handle(self, &request, AdminCall(member: member, ip: context.clientIP, parameters: context.parameters))
            }
        }
        return router
    }

    // MARK: Sessions

    func login(_ request: inout Request, ip: String) async throws -> Response {
        let body = try await JSONBody.read(&request, maximumBytes: configuration.maximumBodyBytes)
        let email = Credentials.normalizedEmail(try body.string("email")) ?? ""
        let password = try body.string("password")
        let outcome = try await staff.login(email: email, password: password, totp: try body.optionalString("totp"), nowSeconds: WallClock.milliseconds() / 1_000)
        let refused = { (reason: String) async in
            _ = try? await AuditLogStore(postgres: self.postgres, logger: self.logger).append(
                actorKind: "staff", actor: email, action: "staff.login.refused", target: "staff:\(email)", ip: ip, after: #"{"reason":"\#(reason)"}"#)
        }
        switch outcome {
        case .success(let member):
            try await audit(member, "staff.login", target: "staff:\(member.id)", ip: ip)
            return session(for: member).response()
        case .badCredentials:
            await refused("bad credentials")
            throw BinanceError.badCredentials
        case .locked:
            await refused("locked")
            throw BinanceError.accountLocked
        case .secondFactorRequired:
            throw BinanceError.secondFactorRequired
        case .badSecondFactor:
            await refused("bad second factor")
            throw BinanceError.badSecondFactor
        }
    }

    // MARK: Staff accounts

    func createStaff(_ request: inout Request, _ call: AdminCall) async throws -> Response {
        let body = try await JSONBody.read(&request, maximumBytes: configuration.maximumBodyBytes)
        guard let email = Credentials.normalizedEmail(try body.string("email")) else { throw BinanceError.invalidRequest("Invalid email address.") }
        let password = try body.string("password")
        do { try Credentials.checkPassword(password) } catch { throw BinanceError.invalidRequest("\(error)") }
        let role = try Self.role(body)
        guard let member = try await staff.create(email: email, password: password, role: role) else {
            throw BinanceError.conflict("A staff account with this email exists.")
        }
        try await audit(call.member, "staff.create", target: "staff:\(member.id)", ip: call.ip, after: Self.json(member))
        return Self.json(member).response(status: .created)
    }

    static func role(_ body: JSONBody) throws -> StaffRole {
        let name = try body.string("role")
        guard let role = StaffRole(rawValue: name) else {
            throw BinanceError.invalidRequest("'role' must be one of \(StaffRole.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        return role
    }

    /// `PUT staff/:id/role {"role"}` or `PUT staff/:id/disabled {"disabled"}`: either ends the
    /// account's sessions. Nobody changes or disables their own account (the last SuperAdmin
    /// cannot lock everyone out).
    func changeStaff(_ request: inout Request, _ call: AdminCall, field: String) async throws -> Response {
        let id = try call.id("id")
        let body = try await JSONBody.read(&request, maximumBytes: configuration.maximumBodyBytes)
        let role = field == "role" ? try Self.role(body) : nil
        let disabled = field == "disabled" ? try body.bool("disabled") : nil
        guard id != call.member.id else { throw BinanceError.invalidRequest("Staff cannot change their own role or disable themselves.") }
        guard let change = try await staff.update(id, role: role, disabled: disabled, nowSeconds: WallClock.milliseconds() / 1_000) else {
            throw BinanceError.notFoundEntity
        }
        try await audit(call.member, field == "role" ? "staff.role" : "staff.disable", target: "staff:\(id)", ip: call.ip,
                        before: Self.json(change.before), after: Self.json(change.after))
        return Self.json(change.after).response()
    }

    // MARK: Users

    func existingUser(_ call: AdminCall) async throws -> Int64 {
        let id = try call.id("id")
        guard try await users.exists(id) else { throw BinanceError.notFoundEntity }
        return id
    }

    func setUserLocked(_ call: AdminCall, _ locked: Bool) async throws -> Response {
        let id = try call.id("id")
        guard try await users.setLocked(id, locked, nowSeconds: WallClock.milliseconds() / 1_000) else { throw BinanceError.notFoundEntity }
        try await audit(call.member, locked ? "user.lock" : "user.unlock", target: "user:\(id)", ip: call.ip,
                        after: .object([("locked", .bool(locked))]))
        return JSONValue.object([("userId", .integer(id)), ("locked", .bool(locked))]).response()
    }

    // MARK: Audit log

    /// `GET audit` (JSON) or `audit.csv`: newest first; `actor`, `action`, `target`, `from` and
    /// `to` (ms since the Unix epoch), `before` (an id, to page) and `limit` (≤ 10,000).
    func searchAudit(_ request: Request, csv: Bool) async throws -> Response {
        let query = request.uri.queryParameters
        func milliseconds(_ name: String) throws -> Int64? {
            guard let text = query.get(name) else { return nil }
            guard let value = Int64(text), value >= 0, value < Int64.max / 1_000 else {
                throw BinanceError.invalidRequest("'\(name)' must be milliseconds since the Unix epoch.")
            }
            return value * 1_000
        }
        let limitText = query.get("limit") ?? (csv ? "10000" : "200")
        guard let limit = Int(limitText), (1...10_000).contains(limit) else { throw BinanceError.invalidRequest("'limit' must be within 1...10000.") }
        var beforeID: Int64?
        if let text = query.get("before") {
            guard let id = Int64(text) else { throw BinanceError.invalidRequest("'before' must be a record id.") }
            beforeID = id
        }
        let search = AuditLogStore.Search(
            actor: query.get("actor"), action: query.get("action"), target: query.get("target"),
            fromMicroseconds: try milliseconds("from"), toMicroseconds: try milliseconds("to"), beforeID: beforeID)
        let records = try await AuditLogStore(postgres: postgres, logger: logger).search(search, limit: limit)
        if csv {
            var text = "id,time,actor_kind,actor,action,target,ip,before,after\r\n"
            for record in records {
                let time = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(record.atMicroseconds) / 1_000_000))
                text += [String(record.id), time, record.actorKind, record.actor, record.action, record.target, record.ip, record.before, record.after]
                    .map(Self.csvField).joined(separator: ",") + "\r\n"
            }
            return Response(
                status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: #"attachment; filename="audit-log.csv""#],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        return JSONValue.array(records.map { record in
            .object([
                ("id", .integer(record.id)), ("time", .integer(record.atMicroseconds / 1_000)), ("actorKind", .string(record.actorKind)),
                ("actor", .string(record.actor)), ("action", .string(record.action)), ("target", .string(record.target)),
                ("ip", .string(record.ip)), ("before", .string(record.before)), ("after", .string(record.after)),
            ])
        }).response()
    }

    /// RFC 4180 quoting; a field a spreadsheet would run as a formula (`=`, `+`, `-`, `@`)
    /// gets a leading apostrophe.
    static func csvField(_ text: String) -> String {
        var field = text
        if let first = field.first, "=+-@\t\r".contains(first) { field = "'" + field }
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "'" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    // MARK: Cluster

    /// Per shard and partition: input length, output watermark, epoch (each failover moves it
    /// on), lease holder, and each replica's role, epoch, applied position, lag and last snapshot.
    func clusterStatus() async throws -> Response {
        guard let map = try await ClusterMapStore(client: redis).load() else { throw ClusterMapStoreError.notInitialized }
        func status(_ store: ReplicaLogStore, kind: String, id: UInt32) async throws -> JSONValue {
            let length = try await store.inputLength()
            let observation = try await store.observe()
            let replicas = try await store.replicaStatuses().map { replica -> JSONValue in
                .object([
                    ("name", .string(replica.name)), ("role", .string(replica.role)), ("epoch", .unsigned(replica.epoch)),
                    ("applied", .unsigned(replica.appliedPosition)),
                    ("lag", .unsigned(length >= replica.appliedPosition ? length - replica.appliedPosition : 0)),
                    ("lastSnapshot", .unsigned(replica.lastSnapshotPosition)),
                ])
            }
            return .object([
                ("kind", .string(kind)), ("id", .integer(Int64(id))), ("input", .unsigned(length)), ("watermark", .unsigned(observation.watermark)),
                ("epoch", .unsigned(observation.epoch)), ("leaseHolder", .string(observation.holder ?? "")), ("replicas", .array(replicas)),
            ])
        }
        var logs: [JSONValue] = []
        for shard in map.shards { logs.append(try await status(ReplicaLogStore(keys: .matchingShard(shard.id), client: redis), kind: "shard", id: shard.id)) }
        for partition in 0..<UInt32(map.partitionCount) {
            logs.append(try await status(ReplicaLogStore(keys: .clearingPartition(partition), client: redis), kind: "partition", id: partition))
        }
        return JSONValue.object([("mapVersion", .unsigned(map.version)), ("logs", .array(logs))]).response()
    }
}
