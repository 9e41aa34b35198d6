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

// nodeScope is the condition that keeps a node row (alias n) within scope.
func nodeScope(scope telemetry.Scope, a *args) string {
	switch {
	case scope.All:
		return "1 = 1"
	case scope.CustomerID != "":
		return "n.customer_id = " + a.add(scope.CustomerID)
	case scope.CommunityID != "":
		return "n.community_id = " + a.add(scope.CommunityID)
	case scope.DistributorID != "":
		p := a.add(scope.DistributorID)
		return "(n.distributor_id = " + p + " OR n.community_id IN (SELECT id FROM communities WHERE distributor_id = " + p + "))"
	}
	return "1 = 0" // an empty scope sees nothing
}
