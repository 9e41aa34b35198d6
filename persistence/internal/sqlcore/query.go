package sqlcore

import (
	"strconv"
	"strings"

	"github.com/evaratech/evara/internal/telemetry"
)

// args collects query arguments and hands out their $N placeholders, so a
// query assembled from optional parts stays numbered correctly.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// where joins conditions with AND ("" when there are none).
type where []string

func (w where) String() string {
	if len(w) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w, " AND ")
}

// ownership says how a row belongs to a tenant, so that one rule turns a
// caller's scope into a condition for every table (SPEC §9): a customer
// sees what customerMatch accepts (nothing when it is nil), a community
// admin the rows of community, a distributor those of its communities and,
// when distributor names a column, the rows assigned to it directly.
type ownership struct {
	customerMatch func(param string) string
	community     string
	distributor   string
}

func (o ownership) condition(scope telemetry.Scope, a *args) string {
	switch {
	case scope.All:
		return "1 = 1"
	case scope.CustomerID != "":
		if o.customerMatch == nil {
			return "1 = 0"
		}
		return o.customerMatch(a.add(scope.CustomerID))
	case scope.CommunityID != "":
		return o.community + " = " + a.add(scope.CommunityID)
	case scope.DistributorID != "":
		p := a.add(scope.DistributorID)
		inCommunities := o.community + " IN (SELECT id FROM communities WHERE distributor_id = " + p + ")"
		if o.distributor == "" {
			return inCommunities
		}
		return "(" + o.distributor + " = " + p + " OR " + inCommunities + ")"
	}
	return "1 = 0" // an empty scope sees nothing
}

// equals returns a customerMatch comparing col with the caller's customer id.
func equals(col string) func(string) string {
	return func(p string) string { return col + " = " + p }
}

var nodeOwnership = ownership{customerMatch: equals("n.customer_id"), community: "n.community_id", distributor: "n.distributor_id"}

// nodeScope is the condition that keeps a node row (alias n) within scope.
func nodeScope(scope telemetry.Scope, a *args) string { return nodeOwnership.condition(scope, a) }
