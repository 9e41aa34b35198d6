package app

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/evaratech/evara/internal/telemetry"
)

// nodeMatrix is the authorization matrix of its route group.
func nodeMatrix() []matrixCase {
	readers := allRoles
	provisioners := []string{"superadmin", "distributor"}
	cases := []matrixCase{
		{Method: "GET", Route: "/devices/map/all", Setup: fixed("/devices/map/all"), Allowed: readers},
		{Method: "GET", Route: "/devices/:id/telemetry/latest", Setup: nodePaths("/devices/", "/telemetry/latest"), Allowed: readers},
		{Method: "GET", Route: "/devices/:id/telemetry/history", Setup: nodePaths("/devices/", "/telemetry/history?results=5"), Allowed: readers},
		{Method: "GET", Route: "/nodes/:id/feeds.json", Setup: nodePaths("/nodes/", "/feeds.json?results=5"), Allowed: readers},
	}
	for _, prefix := range []string{"/nodes", "/devices"} {
		cases = append(cases,
			matrixCase{Method: "GET", Route: prefix, Setup: fixed(prefix), Allowed: readers},
			matrixCase{Method: "POST", Route: prefix, Setup: fixed(prefix), Body: newNodeBody, Allowed: provisioners,
				Status: http.StatusCreated},
			matrixCase{Method: "GET", Route: prefix + "/:id", Setup: nodePaths(prefix+"/", ""), Allowed: readers},
			// Ordinary edits are node:control, which every role holds on
			// its own nodes.
			matrixCase{Method: "PUT", Route: prefix + "/:id", Setup: freshNodePaths(prefix + "/"), Allowed: readers,
				Body: func(*apiEnv, string) any {
					return map[string]any{"label": "Replaced", "category": "OHT", "analytics_type": "EvaraTank"}
				}},
			matrixCase{Method: "PATCH", Route: prefix + "/:id", Setup: freshNodePaths(prefix + "/"), Allowed: readers,
				Body: func(*apiEnv, string) any { return map[string]any{"label": "Renamed", "lat": 12.97} }},
			matrixCase{Method: "DELETE", Route: prefix + "/:id", Setup: freshNodePaths(prefix + "/"), Allowed: provisioners,
				Status: http.StatusNoContent},
		)
	}
	return cases
}

// nodePaths names NodeA (in every tenant-A role's scope: its customer is
// the customer's) and tenant B's NodeB.
func nodePaths(prefix, suffix string) func(*apiEnv, string) (string, string) {
	return func(e *apiEnv, _ string) (string, string) {
		return prefix + string(e.fx.NodeA.ID) + suffix, prefix + string(e.fx.NodeB.ID) + suffix
	}
}

// freshNodePaths makes a new node of customer A and one of customer B for
// each call of a route that changes or deletes its node.
func freshNodePaths(prefix string) func(*apiEnv, string) (string, string) {
	return func(e *apiEnv, _ string) (string, string) {
		in := e.freshNode(&e.fx.CommA, &e.fx.CustA)
		out := e.freshNode(&e.fx.CommB, &e.fx.CustB)
		return prefix + string(in.ID), prefix + string(out.ID)
	}
}

var freshNodes atomic.Int64

// freshNode stores a new node without a channel (the runtime leaves it alone).
func (e *apiEnv) freshNode(comm *telemetry.Community, cust *telemetry.Customer) telemetry.Node {
	key := fmt.Sprintf("fresh-%d", freshNodes.Add(1))
	return e.node(context.Background(), key, "OHT", "EvaraTank", comm, cust, nil)
}

// newNodeBody is a minimal valid create body in community A, without a
// channel (no upstream call) and without a customer (no quota).
func newNodeBody(e *apiEnv, _ string) any {
	return map[string]any{
		"node_key": fmt.Sprintf("new-%d", freshNodes.Add(1)), "label": "New tank", "category": "Sump",
		"analytics_type": "EvaraTank", "community_id": e.fx.CommA.ID,
	}
}
