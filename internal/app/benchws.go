package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/evaratech/evara/internal/config"
)

// benchWS runs `evara bench ws`: it opens cfg.BenchWS.Sessions WebSocket
// clients in this process against the member at cfg.BenchWS.URL, each
// following Topics of the member's devices (spread evenly), waits until
// every session has had its first reading, and then measures for Duration:
// events delivered per second, the delay from the device actor's `ts` to
// receipt here (same machine, same clock), and — from the member's own
// /metrics — its heap and resident memory per session and its CPU.
//
// Speeds are reported against a ceiling measured in the same run, never
// as absolute times across runs: once the sessions have closed, it
// measures the CPU this machine's TCP loopback takes to carry a frame of
// the size the sessions received (measureLoopbackFloor), and gives the
// member's and the load generator's CPU per delivered event as a multiple
// of it.
func benchWS(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	b := cfg.BenchWS
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	devices, err := benchDevices(ctx, client, b)
	if err != nil {
		return err
	}
	if len(devices) < b.Topics {
		return fmt.Errorf("bench ws: the member has %d devices with a channel, fewer than --topics %d", len(devices), b.Topics)
	}
	before, err := scrapeProcess(ctx, client, b.URL)
	if err != nil {
		return err
	}

	var rec benchRecorder
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	wsURL := "ws" + strings.TrimPrefix(strings.TrimSuffix(b.URL, "/"), "http") + "/api/v1/ws/ws"
	tick := time.NewTicker(time.Second / time.Duration(b.ConnectRate))
	defer tick.Stop()
	rampStart := time.Now()
	for i := range b.Sessions {
		select {
		case <-ctx.Done():
			stop()
			wg.Wait()
			return ctx.Err()
		case <-tick.C:
		}
		topics := make([]string, b.Topics)
		for k := range topics {
			topics[k] = "node:" + devices[(i*b.Topics+k)%len(devices)]
		}
		wg.Go(func() { rec.session(runCtx, wsURL, b.Token.Reveal(), topics) })
	}
	// Every session connected and fed once (or failed): the steady state.
	// A session still waiting after readyWait is reported, not awaited.
	for deadline := time.Now().Add(readyWait); rec.ready.Load()+rec.failed.Load() < int64(b.Sessions) && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			stop()
			wg.Wait()
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	ramp := time.Since(rampStart)
	loaded, err := scrapeProcess(ctx, client, b.URL)
	if err != nil {
		stop()
		wg.Wait()
		return err
	}
	rec.reset()
	cpuStart, cpuErr := processCPU()
	start := time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(b.Duration):
	}
	elapsed := time.Since(start)
	snap := rec.snapshot()
	cpuEnd, cpuEndErr := processCPU()
	after, scrapeErr := scrapeProcess(ctx, client, b.URL)
	stop()
	wg.Wait()
	if err := errors.Join(cpuErr, cpuEndErr, scrapeErr); err != nil {
		return err
	}
	// The sessions are closed: their descriptors are free for the floor.
	floor, err := measureLoopbackFloor(ctx, floorConns(b.Sessions), snap.meanFrameBytes(), floorFrames)
	if err != nil {
		return err
	}
	return writeBenchWS(stdout, benchReport{
		cfg: b, devices: len(devices), ramp: ramp, elapsed: elapsed, snap: snap, ready: rec.ready.Load(), failed: rec.failed.Load(), closed: rec.closed.Load(), closes: rec.closeCounts(),
		before: before, loaded: loaded, after: after, generatorCPU: cpuEnd - cpuStart, floor: floor,
	})
}

// readyWait bounds the wait for every session's first reading after the
// last one connected.
const readyWait = time.Minute

// benchDevices lists the member's devices (nodes with a channel) through
// the REST API.
func benchDevices(ctx context.Context, client *http.Client, b config.BenchWSCmd) ([]string, error) {
	var out []string
	for offset := 0; ; offset += 1000 {
		u := strings.TrimSuffix(b.URL, "/") + "/api/v1/nodes?limit=1000&offset=" + strconv.Itoa(offset)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+b.Token.Reveal())
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("bench ws: list devices: %w", err)
		}
		var page []struct {
			ID      string `json:"id"`
			Channel *int64 `json:"thingspeak_channel_id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("bench ws: list devices: %s (is EVARA_BENCH_TOKEN a superadmin's?)", resp.Status)
		}
		if err != nil {
			return nil, fmt.Errorf("bench ws: list devices: %w", err)
		}
		for _, n := range page {
			if n.Channel != nil {
				out = append(out, n.ID)
			}
		}
		if len(page) < 1000 {
			return out, nil
		}
	}
}

// benchRecorder gathers what the sessions see. Delays go into a histogram
// of 1 ms buckets up to a minute: constant memory however long it runs,
// and atomic counters, so that thousands of client goroutines recording
// do not queue on one lock (the load generator shares the member's CPU).
// Frames are counted apart from events: the member may batch several
// events in one frame, and the loopback floor is a cost per frame.
type benchRecorder struct {
	ready, failed, closed atomic.Int64
	closeMu               sync.Mutex
	closes                map[string]int64 // closed by the member, by close code or how
	events                atomic.Int64
	frames, frameBytes    atomic.Int64 // every frame received, pings included
	hist                  [histBuckets]atomic.Int64
	max                   atomic.Int64
}

// histBuckets are the histogram's 1 ms buckets: 0 to 60 s.
const histBuckets = 60_001

type benchSnapshot struct {
	events             int64
	frames, frameBytes int64
	p50, p99, max      int64 // ms
}

// meanFrameBytes is the average size of the frames received, or
// fallbackFrameBytes when none was.
func (s benchSnapshot) meanFrameBytes() int {
	if s.frames == 0 {
		return fallbackFrameBytes
	}
	return int(max(1, s.frameBytes/s.frames))
}

// fallbackFrameBytes is the floor's frame size when the sessions received
// nothing to measure: about one TELEMETRY_UPDATE with a few metrics.
const fallbackFrameBytes = 256

// received counts one frame of size bytes.
func (r *benchRecorder) received(size int) {
	r.frames.Add(1)
	r.frameBytes.Add(int64(size))
}

func (r *benchRecorder) observe(delayMs int64) {
	r.events.Add(1)
	delayMs = min(max(delayMs, 0), histBuckets-1)
	r.hist[delayMs].Add(1)
	for {
		m := r.max.Load()
		if delayMs <= m || r.max.CompareAndSwap(m, delayMs) {
			return
		}
	}
}

// closedBy counts a session the member closed, by why.
func (r *benchRecorder) closedBy(reason string) {
	r.closed.Add(1)
	r.closeMu.Lock()
	defer r.closeMu.Unlock()
	if r.closes == nil {
		r.closes = map[string]int64{}
	}
	r.closes[reason]++
}

// closeCounts lists the closes by reason ("4004: 3, EOF: 1"), or "".
func (r *benchRecorder) closeCounts() string {
	r.closeMu.Lock()
	defer r.closeMu.Unlock()
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.closes)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, r.closes[k]))
	}
	return strings.Join(parts, ", ")
}

// reset starts the measurement: what the sessions saw while connecting is
// dropped.
func (r *benchRecorder) reset() {
	for i := range r.hist {
		r.hist[i].Store(0)
	}
	r.max.Store(0)
	r.events.Store(0)
	r.frames.Store(0)
	r.frameBytes.Store(0)
}

func (r *benchRecorder) snapshot() benchSnapshot {
	var counts [histBuckets]int64
	var n int64
	for i := range r.hist {
		counts[i] = r.hist[i].Load()
		n += counts[i]
	}
	quantile := func(q float64) int64 {
		want, seen := int64(math.Ceil(q*float64(n))), int64(0)
		for ms, c := range counts {
			if seen += c; seen >= want && c > 0 {
				return int64(ms)
			}
		}
		return 0
	}
	return benchSnapshot{events: r.events.Load(), frames: r.frames.Load(), frameBytes: r.frameBytes.Load(),
		p50: quantile(0.50), p99: quantile(0.99), max: r.max.Load()}
}

// session is one client: connect, follow its topics, record every
// telemetry event's delay until ctx ends.
func (r *benchRecorder) session(ctx context.Context, wsURL, token string, topics []string) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := dialBench(dctx, wsURL, token)
	cancel()
	if err != nil {
		r.failed.Add(1)
		return
	}
	defer func() { _ = conn.close() }()
	stop := context.AfterFunc(ctx, func() { _ = conn.close() }) // ends the read below
	defer stop()
	for _, t := range topics {
		msg, _ := json.Marshal(map[string]string{"type": "subscribe", "topic": t})
		if conn.writeText(msg) != nil {
			r.failed.Add(1)
			return
		}
	}
	fed := false
	for {
		raw, err := conn.readMessage(1 << 20)
		if err != nil {
			if ctx.Err() == nil {
				r.closedBy(closeReason(err))
			}
			if !fed {
				r.failed.Add(1)
			}
			return
		}
		now := time.Now().UnixMilli()
		r.received(len(raw))
		if bytes.HasPrefix(raw, pingPrefix) {
			// The member closes a session that misses two pings; a failed
			// write shows up as the next read's error.
			_ = conn.writeText(pongMessage)
			continue
		}
		n := 0
		for _, ts := range telemetryStamps(raw) {
			r.observe(now - ts)
			n++
		}
		if n > 0 && !fed {
			fed = true
			r.ready.Add(1)
		}
	}
}

var (
	pingPrefix    = []byte(`{"type":"ping"`)
	pongMessage   = []byte(`{"type":"pong"}`)
	telemetryMark = []byte(`"event":"TELEMETRY_UPDATE"`)
	tsMark        = []byte(`"ts":`)
)

// telemetryStamps returns the ts of every TELEMETRY_UPDATE in a frame (one
// event or a batch's updates) without decoding it: with thousands of
// sessions in one process, decoding every frame would make the load
// generator, not the member, what is measured. It relies on the member's
// encoding: an event's own ts is the first "ts" after its "event" (metrics
// follow it).
func telemetryStamps(frame []byte) []int64 {
	var out []int64
	for {
		i := bytes.Index(frame, telemetryMark)
		if i < 0 {
			return out
		}
		frame = frame[i+len(telemetryMark):]
		j := bytes.Index(frame, tsMark)
		if j < 0 {
			return out
		}
		frame = frame[j+len(tsMark):]
		end := 0
		for end < len(frame) && frame[end] >= '0' && frame[end] <= '9' {
			end++
		}
		if ts, err := strconv.ParseInt(string(frame[:end]), 10, 64); err == nil {
			out = append(out, ts)
		}
	}
}

// processFigures are the member's own figures, from its /metrics.
type processFigures struct {
	heap, stack, rss, cpuSeconds, goroutines, sessions float64
	nextGC, gogc                                       float64
}

// liveHeap is the heap the last garbage collection found live: the Go
// runtime sets the next collection's goal at live × (1 + GOGC/100). Unlike
// the heap in use, it does not count garbage not yet collected, which
// swings by hundreds of megabytes under load.
func (f processFigures) liveHeap() float64 {
	if f.gogc <= 0 {
		return f.heap
	}
	return f.nextGC / (1 + f.gogc/100)
}

func scrapeProcess(ctx context.Context, client *http.Client, base string) (processFigures, error) {
	u, err := url.JoinPath(base, "/metrics")
	if err != nil {
		return processFigures{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return processFigures{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return processFigures{}, fmt.Errorf("bench ws: read the member's metrics: %w", err)
	}
	defer resp.Body.Close()
	want := map[string]*float64{}
	var f processFigures
	want["go_memstats_heap_inuse_bytes"], want["go_memstats_stack_inuse_bytes"], want["process_resident_memory_bytes"] = &f.heap, &f.stack, &f.rss
	want["process_cpu_seconds_total"], want["go_goroutines"], want["evara_ws_sessions"] = &f.cpuSeconds, &f.goroutines, &f.sessions
	want["go_memstats_next_gc_bytes"], want["go_gc_gogc_percent"] = &f.nextGC, &f.gogc
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if dst, wanted := want[name]; ok && wanted {
			*dst, _ = strconv.ParseFloat(strings.TrimSpace(value), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return f, err
	}
	if f.heap == 0 {
		return f, errors.New("bench ws: the member's /metrics has no go_memstats_heap_inuse_bytes")
	}
	return f, nil
}

type benchReport struct {
	cfg                   config.BenchWSCmd
	devices               int
	ramp, elapsed         time.Duration
	snap                  benchSnapshot
	ready, failed, closed int64
	closes                string // closed by the member, by close code
	before, loaded, after processFigures
	// generatorCPU is this process's CPU over the measured window. When the
	// member runs in this process too (TestBenchWS), it and the member's
	// figure count the same CPU.
	generatorCPU time.Duration
	floor        loopbackFloor
}

// parenthesized is " (s)", or "" for "".
func parenthesized(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func writeBenchWS(w io.Writer, r benchReport) error {
	// Per session of the member's: sessions that failed hold nothing there.
	n := r.loaded.sessions
	if n <= 0 {
		n = float64(r.cfg.Sessions)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rows := [][2]string{
		{"sessions", fmt.Sprintf("%d: %d fed, %d failed (connect, subscribe or no reading), %d closed by the member%s", r.cfg.Sessions, r.ready, r.failed, r.closed, parenthesized(r.closes))},
		{"member's sessions", fmt.Sprintf("%.0f", r.loaded.sessions)},
		{"topics per session", fmt.Sprintf("%d of %d devices", r.cfg.Topics, r.devices)},
		{"ramp-up", r.ramp.Round(time.Millisecond).String()},
		{"measured", r.elapsed.Round(time.Millisecond).String()},
		{"events delivered", fmt.Sprintf("%d (%.0f/s)", r.snap.events, float64(r.snap.events)/r.elapsed.Seconds())},
		{"delay ts → receipt", fmt.Sprintf("p50 %d ms, p99 %d ms, max %d ms", r.snap.p50, r.snap.p99, r.snap.max)},
		{"member memory per session", fmt.Sprintf("%.1f KB (heap and stacks in use %.0f → %.0f MB)",
			(r.loaded.heap+r.loaded.stack-r.before.heap-r.before.stack)/n/1024, (r.before.heap+r.before.stack)/(1<<20), (r.loaded.heap+r.loaded.stack)/(1<<20))},
		{"member live memory per session", fmt.Sprintf("%.1f KB: heap live at the last GC %.1f KB (%.0f → %.0f MB), stacks %.1f KB (%.0f → %.0f MB)",
			(r.loaded.liveHeap()+r.loaded.stack-r.before.liveHeap()-r.before.stack)/n/1024,
			(r.loaded.liveHeap()-r.before.liveHeap())/n/1024, r.before.liveHeap()/(1<<20), r.loaded.liveHeap()/(1<<20),
			(r.loaded.stack-r.before.stack)/n/1024, r.before.stack/(1<<20), r.loaded.stack/(1<<20))},
		{"member RSS per session", fmt.Sprintf("%.1f KB (RSS %.0f → %.0f MB)", (r.loaded.rss-r.before.rss)/n/1024, r.before.rss/(1<<20), r.loaded.rss/(1<<20))},
		{"member goroutines per session", fmt.Sprintf("%.2f", (r.loaded.goroutines-r.before.goroutines)/n)},
		{"member CPU while measured", fmt.Sprintf("%.0f %% of one core", 100*(r.after.cpuSeconds-r.loaded.cpuSeconds)/r.elapsed.Seconds())},
	}
	rows = append(rows, r.floorRows()...)
	for _, row := range rows {
		if _, err := fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1]); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// floorRows compare the run with the loopback floor: the frames that
// carried the events, the floor itself, the CPU the member and the load
// generator spent per delivered event as a multiple of it, and the cores
// the floor alone needs at this run's load.
func (r benchReport) floorRows() [][2]string {
	secs := r.elapsed.Seconds()
	events, frames := float64(r.snap.events), float64(r.snap.frames)
	floor := r.floor.microsPerFrame()
	rows := [][2]string{
		{"frames received", fmt.Sprintf("%d (%.0f/s), %d bytes on average, %s events per frame",
			r.snap.frames, frames/secs, r.snap.meanFrameBytes(), figures(events/max(frames, 1)))},
		{"loopback floor", fmt.Sprintf("%s µs CPU per frame written and read, %d connections (at most %d: the process's descriptors), %d-byte frames, %d frames",
			figures(floor), r.floor.conns, maxFloorConns, r.floor.frameBytes, r.floor.frames)},
	}
	if r.snap.events == 0 {
		return append(rows, [2]string{"CPU per delivered event", "no event delivered"})
	}
	member := (r.after.cpuSeconds - r.loaded.cpuSeconds) * 1e6 / events
	generator := r.generatorCPU.Seconds() * 1e6 / events
	return append(rows,
		[2]string{"CPU per delivered event", fmt.Sprintf("member %s µs + load generator %s µs = %s × the floor",
			figures(member), figures(generator), figures((member+generator)/floor))},
		// The run's load is the devices' readings/s × their subscribers
		// (sessions × topics × one device's readings/s): what the sessions
		// received. As one frame per event it is what the floor is for; the
		// frames actually received (fewer when the member batches) follow.
		[2]string{"the floor alone at this load", fmt.Sprintf("%s events/s as one frame each need %s cores (the %s frames/s received, %s); this machine has %d",
			figures(events/secs), figures(events/secs*floor/1e6), figures(frames/secs), figures(frames/secs*floor/1e6), runtime.NumCPU())},
	)
}

// figures formats v with two significant figures and no exponent, so that
// small figures (a few cores' thousandths in a short test) stay readable
// and nonzero.
func figures(v float64) string {
	if v == 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	decimals := max(0, 1-int(math.Floor(math.Log10(math.Abs(v)))))
	return strconv.FormatFloat(v, 'f', decimals, 64)
}
