import ExchangeAccess
import Testing

/// The RBAC matrix, walked exhaustively: every role × every action, allowed or refused as the
/// roles are described to operators (docs/operations.md), written here as lists, not as rules.
struct StaffPolicyTests {
    static let operatorActions: Set<AdminAction> = [
        .listPairs, .addPair, .changePair, .setPairStatus, .listHalts, .haltMarkets, .resumeMarkets, .viewCluster,
        .listWithdrawals, .approveWithdrawal, .rejectWithdrawal, .listWalletCases, .resolveWalletCase,
    ]
    static let supportActions: Set<AdminAction> = [
        .searchUsers, .viewUser, .viewUserOrders, .viewUserBalances, .viewLoginHistory, .lockUser, .unlockUser, .forceLogout, .disableAPIKey,
    ]
    static let auditorActions: Set<AdminAction> = [
        .listStaff, .listPairs, .listHalts, .searchUsers, .viewUser, .viewUserOrders, .viewUserBalances, .viewLoginHistory, .searchAuditLog,
        .exportAuditLog, .viewCluster, .listWithdrawals, .listWalletCases,
    ]

    static func expected(_ role: StaffRole) -> Set<AdminAction> {
        switch role {
        case .superAdmin: Set(AdminAction.allCases)
        case .operator: operatorActions
        case .support: supportActions
        case .auditor: auditorActions
        }
    }

    @Test("every role × every action is allowed exactly as listed", arguments: StaffRole.allCases)
    func matrix(role: StaffRole) {
        for action in AdminAction.allCases {
            #expect(StaffPolicy.allows(role, action) == Self.expected(role).contains(action), "\(role) \(action)")
        }
    }

    @Test("only SuperAdmin manages staff or resets a second factor; the Auditor changes nothing")
    func sensitive() {
        for action in [AdminAction.createStaff, .changeStaffRole, .disableStaff, .resetSecondFactor] {
            #expect(StaffRole.allCases.filter { StaffPolicy.allows($0, action) } == [.superAdmin])
        }
        #expect(AdminAction.allCases.filter { StaffPolicy.allows(.auditor, $0) }.allSatisfy { $0.isReadOnly })
        #expect(StaffRole(rawValue: "Operator") == .operator && StaffRole(rawValue: "operator") == nil)
    }
}
