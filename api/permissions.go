package api

import "github.com/evaratech/evara/internal/telemetry"

// Permission is what a route requires of its caller (SPEC §9). Two are not
// permissions a role holds: PermPublic routes take no token at all, and
// PermAuthenticated routes take any valid token.
type Permission string

// The permissions. Object-level scope is separate: a permission says what
// kind of thing a caller may do, the caller's Scope which objects it may do
// it to (every store call takes the scope; an object outside it is 404).
const (
	PermPublic        Permission = "public"
	PermAuthenticated Permission = "authenticated"

	PermNodeRead      Permission = "node:read"        // nodes, readings, feeds, analytics, exports, alerts, rules
	PermNodeControl   Permission = "node:control"     // change a node's label, location, interval…
	PermNodeProvision Permission = "device:provision" // create/delete nodes, change channels and keys, provisioning tokens
	PermAlertAck      Permission = "alert:acknowledge"
	PermAlertManage   Permission = "alert:manage"     // rules, resolving alerts, maintenance windows
	PermCustomers     Permission = "customer:manage"  // create and onboard customers
	PermCommunities   Permission = "community:manage" // create communities
	PermUsers         Permission = "user:read"        // list users in scope
	PermRoles         Permission = "role:change"      // change roles (superadmins only)
	PermPipelines     Permission = "pipeline:manage"  // draw and delete pipelines
	PermAudit         Permission = "audit:read"
	PermSystem        Permission = "system:admin" // system config, admin status, cluster and platform figures
)

// rolePermissions is SPEC §9's table. Each role holds what the roles below
// it hold, except where noted: a distributor manages rules and maintenance
// in its communities as a community admin does in its own (SPEC §9 lists
// rules only for community admins; a distributor, above them, keeps them).
var rolePermissions = map[telemetry.Role][]Permission{
	telemetry.RoleCustomer: {PermNodeRead, PermNodeControl, PermAlertAck},
	telemetry.RoleCommunityAdmin: {PermNodeRead, PermNodeControl, PermAlertAck,
		PermAlertManage, PermCustomers},
	telemetry.RoleDistributor: {PermNodeRead, PermNodeControl, PermAlertAck,
		PermAlertManage, PermCustomers, PermNodeProvision, PermCommunities, PermUsers},
}

// Allows reports whether role holds perm. Superadmins hold everything; an
// unknown role holds nothing beyond PermAuthenticated.
func Allows(role telemetry.Role, perm Permission) bool {
	switch {
	case perm == PermPublic || perm == PermAuthenticated:
		return true
	case role == telemetry.RoleSuperadmin:
		return true
	}
	for _, p := range rolePermissions[role] {
		if p == perm {
			return true
		}
	}
	return false
}

// ScopeOf is the scope of a profile: what its role may see. A customer's
// scope needs the customer row linked to the login (customerID, "" when
// none: such a customer sees nothing yet).
func ScopeOf(p telemetry.UserProfile, customerID string) telemetry.Scope {
	switch p.Role {
	case telemetry.RoleSuperadmin:
		return telemetry.Scope{All: true}
	case telemetry.RoleDistributor:
		return telemetry.Scope{DistributorID: deref(p.DistributorID)}
	case telemetry.RoleCommunityAdmin:
		return telemetry.Scope{CommunityID: deref(p.CommunityID)}
	case telemetry.RoleCustomer:
		return telemetry.Scope{CustomerID: customerID}
	}
	return telemetry.Scope{}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
