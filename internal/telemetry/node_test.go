package telemetry

import (
	"testing"
)

func TestScopeCovers(t *testing.T) {
	mine := NodeOwner{CommunityID: "c1", CustomerID: "u1", DistributorID: "d2", CommunityDistributorID: "d1"}
	orphan := NodeOwner{DistributorID: "d1"} // assigned to a distributor, in no community
	cases := []struct {
		name  string
		scope Scope
		owner NodeOwner
		want  bool
	}{
		{"superadmin", Scope{All: true}, mine, true},
		{"empty scope sees nothing", Scope{}, mine, false},
		{"its customer", Scope{CustomerID: "u1"}, mine, true},
		{"another customer", Scope{CustomerID: "u2"}, mine, false},
		{"a customer does not see by community", Scope{CustomerID: "u2", CommunityID: "c1"}, mine, false},
		{"its community", Scope{CommunityID: "c1"}, mine, true},
		{"another community", Scope{CommunityID: "c2"}, mine, false},
		{"the distributor of its community", Scope{DistributorID: "d1"}, mine, true},
		{"the distributor it is assigned to", Scope{DistributorID: "d2"}, mine, true},
		{"another distributor", Scope{DistributorID: "d3"}, mine, false},
		{"assigned, no community", Scope{DistributorID: "d1"}, orphan, true},
		{"no community is no distributor's community", Scope{DistributorID: ""}, NodeOwner{}, false},
	}
	for _, c := range cases {
		if got := c.scope.Covers(c.owner); got != c.want {
			t.Errorf("%s: Covers = %v, want %v", c.name, got, c.want)
		}
	}
}
