package storetest

import "testing"

// TenancyStore covers plans, regions, distributors, communities, customers,
// user profiles, the audit log, system config and frontend errors.
type TenancyStore interface{}

func testTenancy(t *testing.T, open Opener) {}
