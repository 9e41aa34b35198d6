package telemetry_test

import (
	"testing"

	"github.com/evaratech/evara/internal/telemetry"
)

func TestScopeCovers(t *testing.T) {
	mine := telemetry.NodeOwner{CommunityID: "c1", CustomerID: "u1", DistributorID: "d2", CommunityDistributorID: "d1"}
	orphan := telemetry.NodeOwner{DistributorID: "d1"} // assigned to a distributor, in no community
	cases := []struct {
		name  string
		scope telemetry.Scope
		owner telemetry.NodeOwner
		want  bool
	}{
		{"superadmin", telemetry.Scope{All: true}, mine, true},
		{"empty scope sees nothing", telemetry.Scope{}, mine, false},
		{"its customer", telemetry.Scope{CustomerID: "u1"}, mine, true},
		{"another customer", telemetry.Scope{CustomerID: "u2"}, mine, false},
		{"a customer does not see by community", telemetry.Scope{CustomerID: "u2", CommunityID: "c1"}, mine, false},
		{"its community", telemetry.Scope{CommunityID: "c1"}, mine, true},
		{"another community", telemetry.Scope{CommunityID: "c2"}, mine, false},
		{"the distributor of its community", telemetry.Scope{DistributorID: "d1"}, mine, true},
		{"the distributor it is assigned to", telemetry.Scope{DistributorID: "d2"}, mine, true},
		{"another distributor", telemetry.Scope{DistributorID: "d3"}, mine, false},
		{"assigned, no community", telemetry.Scope{DistributorID: "d1"}, orphan, true},
		{"no community is no distributor's community", telemetry.Scope{DistributorID: ""}, telemetry.NodeOwner{}, false},
	}
	for _, c := range cases {
		if got := c.scope.Covers(c.owner); got != c.want {
			t.Errorf("%s: Covers = %v, want %v", c.name, got, c.want)
		}
	}
}
