package sqlcore

import (
	"strings"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// What the ops tables (alert rules and alerts, maintenance windows,
// pipelines, provisioning tokens, webhooks, revoked tokens) share.

// opsNow is the store's clock for the rows it stamps itself, at the
// millisecond precision both engines keep, so a record returned by a call
// equals the one read back later.
func opsNow() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// opsTime brings a caller's time to the stored precision.
func opsTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// opsID returns id in the form both engines compare equal (PostgreSQL's
// uuid is case-blind, SQLite's TEXT is not), and false when id is not a
// UUID: such an id names nothing, and PostgreSQL would refuse it as input.
func opsID(id string) (string, bool) {
	if !looksLikeUUID(id) {
		return "", false
	}
	return strings.ToLower(id), true
}

// nodeInScope is the condition that col names a node within scope.
func nodeInScope(col string, scope telemetry.Scope, a *args) string {
	return col + " IN (SELECT n.id FROM nodes n WHERE " + nodeScope(scope, a) + ")"
}

// communityInScope is the condition that col names a community within
// scope. Customers see their own customer's community when customers is
// set (maintenance windows over their nodes), nothing otherwise (webhooks).
// A NULL col is only ever in the superadmin's scope.
func communityInScope(col string, scope telemetry.Scope, a *args, customers bool) string {
	o := ownership{community: col}
	if customers {
		o.customerMatch = func(p string) string {
			return col + " IN (SELECT cu.community_id FROM customers cu WHERE cu.id = " + p + ")"
		}
	}
	return o.condition(scope, a)
}

// affectedOne turns "no row changed" into ErrNotFound.
func affectedOne(affected int64, err error) error {
	if err != nil {
		return err
	}
	if affected == 0 {
		return telemetry.ErrNotFound
	}
	return nil
}
