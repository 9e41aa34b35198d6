//go:build faults

package main

// Fault test: it stops the machine's real PostgreSQL server, so it runs in
// its own step of .ci/run (make test-faults), never beside other packages'
// tests, and always starts the server again.

import (
	"syscall"
	"testing"
	"time"

	"github.com/evaratech/evara/persistence/storetest"
)

func pgCluster(t *testing.T, action string) {
	t.Helper()
	if err := storetest.PostgresCluster(action); err != nil {
		t.Fatal(err)
	}
}

// TestServeRidesOutPostgresOutage: a real `evara serve` ingesting from a
// real `evara sim` keeps running while PostgreSQL is down for 30 s, and
// afterwards every simulator entry is stored exactly once.
func TestServeRidesOutPostgresOutage(t *testing.T) {
	url := storetest.FreshSchema(t)
	open := pgOpener(t, url)
	simURL := startSim(t, "--channels", "20", "--period", "1s", "--history", "100", "--seed", "5")
	nodes := provision(t, open, simURL, time.Second)

	env := []string{"DATABASE_URL=" + url, "EVARA_ENCRYPTION_KEY=" + testKey, "EVARA_THINGSPEAK_URL=" + simURL,
		"EVARA_POLL_INTERVAL=1s", "EVARA_UPSTREAM_RATE=500"}
	serve := startEvara(t, env, "serve", "--addr", "127.0.0.1:0")
	serve.waitFor(t, "evara serving", 20*time.Second)
	waitStored(t, open, nodes, 20*100)

	t.Cleanup(func() { pgCluster(t, "start") }) // whatever happens, the server comes back
	pgCluster(t, "stop")
	time.Sleep(30 * time.Second) // the outage itself, not a timing assertion
	if err := serve.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("evara serve died during the outage: %v", err)
	}
	pgCluster(t, "start")

	// 30 more entries per channel arrived during the outage; all must land.
	waitStored(t, open, nodes, 20*(100+30))
	serve.stop(t)
	verify(t, open, simURL, nodes)
}
