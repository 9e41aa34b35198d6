package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evaratech/evara/cluster"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak/sim"
	"github.com/evaratech/evara/persistence/storetest"
)

// The cluster test's figures: 300 devices polled every 10 s by three
// members within a budget of 80 requests/s (demand 30/s, and a member's
// share of the devices catching up after a kill).
const (
	clusterDevices  = 300
	clusterInterval = 10 * time.Second
	clusterBudget   = 80
)

// TestClusterFailover starts the simulator and three `evara serve`
// processes on 127.0.0.1 sharing one PostgreSQL database, and checks
// through the simulator's own counters and the store: every device is
// polled once per interval by exactly one member; after SIGKILL of one
// member its devices are polled by the survivors within 5 s of the kill
// being noticed; the member restarted rejoins and takes its devices back
// without polling any device twice within an interval more than once;
// live data costs no upstream request; the budget is never exceeded; and
// every simulator entry ends up stored exactly once.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("a two-minute multi-process test")
	}
	url := storetest.FreshSchema(t)
	open := pgOpener(t, url)
	simURL := startSim(t, "--channels", strconv.Itoa(clusterDevices), "--period", "10s", "--history", "50", "--seed", "21")
	nodes := provision(t, open, simURL, clusterInterval)

	addrs := freeClusterPorts(t, 3)
	env := func(i int) []string {
		return apiEnv("DATABASE_URL="+url, "EVARA_ENCRYPTION_KEY="+testKey, "EVARA_THINGSPEAK_URL="+simURL,
			"EVARA_UPSTREAM_RATE="+strconv.Itoa(clusterBudget), "EVARA_UPSTREAM_BURST=6",
			"EVARA_CLUSTER_ADVERTISE="+addrs[i], "EVARA_CLUSTER_MEMBERS="+strings.Join(addrs, ","))
	}
	members := make([]*proc, 3)
	httpURL := make([]string, 3)
	start := func(i int) {
		members[i] = startEvara(t, env(i), "serve", "--addr", "127.0.0.1:0")
		addr, _ := members[i].waitFor(t, "evara serving", 30*time.Second)["addr"].(string)
		httpURL[i] = "http://" + addr
	}
	var wg sync.WaitGroup
	for i := range members {
		wg.Go(func() { start(i) })
	}
	wg.Wait()
	waitCluster(t, httpURL[0], 3, clusterDevices)

	// Steady state: three intervals, every device polled once per interval.
	time.Sleep(3*clusterInterval + clusterInterval/2)
	steady := simStats(t, simURL)
	checkGaps(t, "steady", steady, nodes, time.Now().Add(-3*clusterInterval), time.Now(), 0)

	// Load: live data for 10 s at 1,000 requests/s costs no upstream request.
	liveDataLoad(t, httpURL[1], simURL, nodes)

	// Kill the third member; its devices move to the survivors.
	killed := addrs[2]
	// The startup may have logged a topology of two already: only lines
	// after the kill count. The kill is detected when the first survivor
	// notices it (the other may take a moment longer).
	logged := []int{len(members[0].lines()), len(members[1].lines())}
	killedAt := time.Now()
	members[2].kill()
	detected := waitTopology(t, members[0], 2, logged[0])
	if other := waitTopology(t, members[1], 2, logged[1]); other.Before(detected) {
		detected = other
	}
	time.Sleep(6 * time.Second)
	after := simStats(t, simURL)
	moved, slowest := 0, time.Duration(0)
	for id, ch := range nodes {
		if cluster.OwnerAmong(addrs, id) != killed {
			continue
		}
		moved++
		for _, ms := range after.Channels[ch.id].RecentRequestsMs {
			if ms >= detected.UnixMilli() {
				slowest = max(slowest, time.Duration(ms-detected.UnixMilli())*time.Millisecond)
				break
			}
		}
		if !polledWithin(after.Channels[ch.id].RecentRequestsMs, detected, detected.Add(5*time.Second)) {
			t.Errorf("channel %d (of the killed member) not polled within 5 s of the kill being noticed at %s: %v",
				ch.id, detected.Format(time.StampMilli), after.Channels[ch.id].RecentRequestsMs)
		}
	}
	t.Logf("%d devices moved off the killed member; the kill was noticed %s after it, and the last of them polled %s after that",
		moved, detected.Sub(killedAt).Round(time.Millisecond), slowest.Round(time.Millisecond))

	// Restart it: it rejoins and takes its devices back.
	start(2)
	waitCluster(t, httpURL[0], 3, clusterDevices)
	rejoined := time.Now()
	time.Sleep(3 * clusterInterval)
	back := simStats(t, simURL)
	checkGaps(t, "after rejoin", back, nodes, rejoined, time.Now(), 1)

	if back.MaxRequestsIn1s > clusterBudget {
		t.Errorf("max_requests_in_1s = %d, budget %d", back.MaxRequestsIn1s, clusterBudget)
	}
	t.Logf("max requests in one second: %d (budget %d)", back.MaxRequestsIn1s, clusterBudget)

	for _, m := range []int{0, 1, 2} {
		members[m].stop(t)
	}
	verify(t, open, simURL, nodes)
}

// simStats reads the simulator's GET /_sim/stats.
func simStats(t testing.TB, simURL string) sim.Stats {
	t.Helper()
	var s sim.Stats
	getJSON(t, simURL+"/_sim/stats", &s)
	return s
}

// checkGaps checks every channel's requests within [from, to]: the gaps
// between consecutive ones are one interval (±30 %), except for at most
// `extra` shorter gaps per channel (a handover), and none is longer than
// 1.5 intervals (none skipped).
func checkGaps(t *testing.T, phase string, s sim.Stats, nodes map[telemetry.NodeID]simChannel, from, to time.Time, extra int) {
	t.Helper()
	bad := 0
	for _, ch := range nodes {
		var times []int64
		for _, ms := range s.Channels[ch.id].RecentRequestsMs {
			if ms >= from.UnixMilli() && ms <= to.UnixMilli() {
				times = append(times, ms)
			}
		}
		short := 0
		for i := 1; i < len(times); i++ {
			gap := time.Duration(times[i]-times[i-1]) * time.Millisecond
			switch {
			case gap < clusterInterval*7/10:
				short++
			case gap > clusterInterval*3/2:
				short = extra + 1
			}
		}
		want := int(to.Sub(from) / clusterInterval)
		if short > extra || len(times) < want-1 || len(times) > want+1+extra {
			bad++
			if bad <= 5 {
				t.Errorf("%s: channel %d polled at %v within %s..%s", phase, ch.id, times, from.Format(time.StampMilli), to.Format(time.StampMilli))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d channels off schedule", phase, bad, len(nodes))
	}
}

func polledWithin(times []int64, from, to time.Time) bool {
	return slices.ContainsFunc(times, func(ms int64) bool { return ms >= from.UnixMilli() && ms <= to.UnixMilli() })
}

// waitCluster waits until a member's cluster stats show n members running
// the given number of devices between them.
func waitCluster(t testing.TB, baseURL string, n int, devices int64) {
	t.Helper()
	var s cluster.Stats
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		getJSON(t, baseURL+"/api/v1/cluster/stats", &s)
		if s.Totals.Members == n && s.Totals.DeviceActors == devices && len(s.Unreachable) == 0 {
			if s.Totals.Share > clusterBudget+0.001 {
				t.Errorf("the members' shares sum to %.2f, above the budget %d", s.Totals.Share, clusterBudget)
			}
			return
		}
	}
	t.Fatalf("cluster did not settle on %d members and %d devices: %+v", n, devices, s.Totals)
}

// waitTopology returns when member p logs a topology of n members in a
// log line after the first `after` lines, and when it logged it.
func waitTopology(t *testing.T, p *proc, n, after int) time.Time {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		lines := p.lines()
		for i := after; i < len(lines); i++ {
			l := lines[i]
			if ms, _ := l["members"].([]any); l["msg"] == "cluster topology" && len(ms) == n {
				at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(l["time"]))
				if err != nil {
					t.Fatal(err)
				}
				return at
			}
		}
	}
	t.Fatalf("no topology of %d members logged", n)
	return time.Time{}
}

// liveDataLoad sends 1,000 live-data requests per second for 10 s across
// the devices (most of them owned by another member) and checks that the
// upstream saw no request beyond the devices' own schedule.
func liveDataLoad(t *testing.T, baseURL, simURL string, nodes map[telemetry.NodeID]simChannel) {
	t.Helper()
	before := simStats(t, simURL)
	ids := make([]telemetry.NodeID, 0, len(nodes))
	for id := range nodes {
		ids = append(ids, id)
	}
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	get := func(id telemetry.NodeID) bool {
		resp, err := authGet(client, baseURL+"/api/v1/devices/"+string(id)+"/live-data")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body map[string]any
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&body) == nil && body["device_id"] == string(id)
	}
	start := time.Now()
	for w := range 50 { // 50 workers × 20 requests/s: a slow answer does not hold the rate back
		wg.Go(func() {
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for i := 0; time.Since(start) < 10*time.Second; i++ {
				<-tick.C
				if !get(ids[(w*7919+i)%len(ids)]) {
					failed.Add(1)
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	after := simStats(t, simURL)
	for _, ch := range nodes {
		// 10 s of load, one 10 s interval: one poll, two at a boundary.
		if n := after.Channels[ch.id].Requests - before.Channels[ch.id].Requests; n > 2 {
			t.Errorf("channel %d: %d upstream requests during 10 s of live-data load", ch.id, n)
		}
	}
	upstream := after.RequestsTotal - before.RequestsTotal
	t.Logf("upstream requests during the load: %d (the schedule alone: about %d)", upstream, int64(elapsed/clusterInterval)*clusterDevices)
	rate := float64(ok.Load()) / elapsed.Seconds()
	t.Logf("live data: %d answered, %d failed in %s (%.0f/s)", ok.Load(), failed.Load(), elapsed.Round(time.Millisecond), rate)
	// The achieved rate is logged, not asserted: it depends on how busy the
	// machine is (no timing assertions in tests); what must hold at any rate
	// is that the upstream saw nothing beyond the schedule (checked above).
	if failed.Load() > 0 {
		t.Errorf("%d live-data requests failed", failed.Load())
	}
}

// freeClusterPorts picks n remoting ports whose membership ports (+1000)
// are free too.
func freeClusterPorts(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	for port := 21000 + int(time.Now().UnixNano()%4000); len(out) < n && port < 30000; port += 7 {
		if free(port) && free(port+cluster.MembershipPortOffset) {
			out = append(out, "127.0.0.1:"+strconv.Itoa(port))
		}
	}
	if len(out) < n {
		t.Fatal("no free ports")
	}
	return out
}

func free(port int) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
