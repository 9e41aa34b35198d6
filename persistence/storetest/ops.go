package storetest

import "testing"

// OpsStore covers alert rules and alerts, maintenance windows, pipelines,
// provisioning tokens, webhook subscriptions and deliveries, and revoked tokens.
type OpsStore interface{}

func testOps(t *testing.T, open Opener) {}
