package main

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evaratech/evara/cluster"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/persistence/storetest"
)

// BenchmarkLiveDataCrossMember measures GET /api/v1/devices/{id}/live-data
// on a two-member cluster of real `evara serve` processes: for devices the
// answering member owns (the ceiling: HTTP, the store lookup and a local
// actor request) and for devices the other member owns (the same plus a
// protobuf request over the remoting port). It reports p50 and p99 of each
// and the cross/local ratios. Needs EVARA_TEST_DATABASE_URL.
//
//	go test -run '^$' -bench LiveDataCrossMember -benchtime 3000x ./cmd/evara/
func BenchmarkLiveDataCrossMember(b *testing.B) {
	url := storetest.FreshSchema(b)
	open := pgOpener(b, url)
	simURL := startSim(b, "--channels", "40", "--period", "10s", "--history", "5")
	nodes := provision(b, open, simURL, time.Minute)
	addrs := freeClusterPorts(b, 2)
	httpURL := make([]string, 2)
	for i := range addrs {
		p := startEvara(b, apiEnv("DATABASE_URL="+url, "EVARA_ENCRYPTION_KEY="+testKey, "EVARA_THINGSPEAK_URL="+simURL,
			"EVARA_CLUSTER_ADVERTISE="+addrs[i], "EVARA_CLUSTER_MEMBERS="+strings.Join(addrs, ",")), "serve", "--addr", "127.0.0.1:0")
		addr, _ := p.waitFor(b, "evara serving", 30*time.Second)["addr"].(string)
		httpURL[i] = "http://" + addr
	}
	waitCluster(b, httpURL[0], 2, int64(len(nodes)))
	var local, remote []telemetry.NodeID
	for id := range nodes {
		if cluster.OwnerAmong(addrs, id) == addrs[0] {
			local = append(local, id)
		} else {
			remote = append(remote, id)
		}
	}
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(id telemetry.NodeID) time.Duration {
		start := time.Now()
		resp, err := authGet(client, httpURL[0]+"/api/v1/devices/"+string(id)+"/live-data")
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("live data of %s: %d", id, resp.StatusCode)
		}
		return time.Since(start)
	}
	for _, id := range append(slices.Clone(local), remote...) { // warm connections and PID caches
		get(id)
	}
	var localTimes, remoteTimes []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		localTimes = append(localTimes, get(local[i%len(local)]))
		remoteTimes = append(remoteTimes, get(remote[i%len(remote)]))
	}
	b.StopTimer()
	lp50, lp99 := percentiles(localTimes)
	rp50, rp99 := percentiles(remoteTimes)
	b.ReportMetric(float64(lp50.Microseconds()), "local-p50-µs")
	b.ReportMetric(float64(lp99.Microseconds()), "local-p99-µs")
	b.ReportMetric(float64(rp50.Microseconds()), "cross-p50-µs")
	b.ReportMetric(float64(rp99.Microseconds()), "cross-p99-µs")
	b.ReportMetric(float64(rp50)/float64(lp50), "cross/local-p50-ratio")
	b.ReportMetric(float64(rp99)/float64(lp99), "cross/local-p99-ratio")
	b.Logf("%d local and %d cross-member devices; %s", len(local), len(remote), strconv.Itoa(len(localTimes))+" requests each")
}

func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(ds)
	return ds[len(ds)/2], ds[(len(ds)*99+99)/100-1]
}
