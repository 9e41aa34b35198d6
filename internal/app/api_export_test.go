package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// bulkNode adds a node without a channel to the world's community and
// writes n readings to it, 15 s apart and ending before now, in batches.
// Field k of entry i is i + k/10 (fields 1..fields).
func (w *analyticsWorld) bulkNode(t *testing.T, e *apiEnv, key string, n, fields int) (telemetry.Node, time.Time) {
	t.Helper()
	ctx := context.Background()
	node := telemetry.Node{NodeKey: key, Label: "Node " + key, Category: "OHT", AnalyticsType: "EvaraTank",
		FieldMapping: map[string]string{"field1": "water_level", "field2": "temperature"},
		CommunityID:  &w.comm.ID, DistributorID: w.comm.DistributorID}
	if err := e.store.CreateNode(ctx, &node); err != nil {
		t.Fatal(err)
	}
	first := time.Now().UTC().Truncate(time.Second).Add(-time.Duration(n+10) * 15 * time.Second)
	const batch = 20_000
	for start := 0; start < n; start += batch {
		rows := make([]telemetry.Reading, 0, batch)
		for i := start; i < min(start+batch, n); i++ {
			r := telemetry.Reading{Node: node.ID, Entry: telemetry.Entry{EntryID: int64(i + 1), CreatedAt: first.Add(time.Duration(i) * 15 * time.Second)}}
			for k := 1; k <= fields; k++ {
				r.Fields[k-1] = telemetry.Field{Value: float64(i+1) + float64(k)/10, Valid: true}
			}
			rows = append(rows, r)
		}
		if err := e.store.WriteReadings(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	return node, first
}

func parseCSV(t *testing.T, raw []byte, fieldsPerRecord int) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(raw))
	r.FieldsPerRecord = fieldsPerRecord
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v", err)
	}
	return recs
}

func TestExportReadings(t *testing.T) {
	e := newAPIEnv(t)
	w := newAnalyticsWorld(t, e)
	const n = 20_000 // far more than any page
	node, first := w.bulkNode(t, e, "bulk", n, 2)
	path := "/api/v1/export/readings/" + string(node.ID)

	t.Run("CSV has every reading, in order", func(t *testing.T) {
		resp, raw := e.do("GET", path, w.admin, nil) // CSV is the default
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, truncate(raw))
		}
		wantName := `attachment; filename="readings-` + string(node.ID) + "-" + time.Now().UTC().Format("20060102") + `.csv"`
		if got := resp.Header.Get("Content-Disposition"); got != wantName {
			t.Errorf("Content-Disposition %q, want %q", got, wantName)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Errorf("Content-Type %q", ct)
		}
		recs := parseCSV(t, raw, 10)
		wantHead := []string{"entry_id", "created_at", "water_level", "temperature", "field3", "field4", "field5", "field6", "field7", "field8"}
		if !slices.Equal(recs[0], wantHead) {
			t.Errorf("header %q, want %q", recs[0], wantHead)
		}
		if len(recs)-1 != n {
			t.Fatalf("%d rows, want %d", len(recs)-1, n)
		}
		for i, rec := range recs[1:] {
			want := []string{strconv.Itoa(i + 1), first.Add(time.Duration(i) * 15 * time.Second).Format(time.RFC3339Nano),
				strconv.FormatFloat(float64(i+1)+0.1, 'f', -1, 64), strconv.FormatFloat(float64(i+1)+0.2, 'f', -1, 64), "", "", "", "", "", ""}
			if !slices.Equal(rec, want) {
				t.Fatalf("row %d is %q, want %q", i+1, rec, want)
			}
		}
	})
	t.Run("JSON decodes, every reading", func(t *testing.T) {
		raw := e.expect(http.StatusOK, "GET", path+"?format=json", w.admin, nil)
		var rows []struct {
			EntryID   int64              `json:"entry_id"`
			CreatedAt time.Time          `json:"created_at"`
			Metrics   map[string]float64 `json:"metrics"`
		}
		if err := json.Unmarshal(raw, &rows); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		if len(rows) != n || rows[0].EntryID != 1 || rows[n-1].EntryID != n || !rows[0].CreatedAt.Equal(first) {
			t.Fatalf("%d rows from %+v", len(rows), rows[0])
		}
		if want := map[string]float64{"water_level": 1.1, "temperature": 1.2}; !mapsEqual(rows[0].Metrics, want) {
			t.Errorf("metrics %v, want %v", rows[0].Metrics, want)
		}
	})
	t.Run("days narrows to the last days", func(t *testing.T) {
		today := time.Now().UTC().Truncate(24 * time.Hour)
		want := 0
		for i := range n {
			if !first.Add(time.Duration(i) * 15 * time.Second).Before(today) {
				want++
			}
		}
		recs := parseCSV(t, e.expect(http.StatusOK, "GET", path+"?days=1", w.admin, nil), 10)
		if len(recs)-1 != want {
			t.Errorf("%d rows of today, want %d", len(recs)-1, want)
		}
	})
	t.Run("refused before any byte", func(t *testing.T) {
		for _, c := range []struct {
			path, token string
			status      int
		}{
			{path, e.fx.Tokens["customer_b"], http.StatusNotFound},
			{path, e.fx.Tokens["community_admin"], http.StatusNotFound}, // community A, not this one
			{"/api/v1/export/readings/not-a-node", w.admin, http.StatusNotFound},
			{path + "?format=xml", w.admin, http.StatusUnprocessableEntity},
			{path + "?days=0", w.admin, http.StatusUnprocessableEntity},
		} {
			resp, raw := e.do("GET", c.path, c.token, nil)
			var problem struct {
				Code string `json:"code"`
			}
			if resp.StatusCode != c.status || resp.Header.Get("Content-Disposition") != "" || json.Unmarshal(raw, &problem) != nil || problem.Code == "" {
				t.Errorf("%s: %d %q, want a %d problem and no attachment", c.path, resp.StatusCode, truncate(raw), c.status)
			}
		}
	})
	t.Run("audited", func(t *testing.T) {
		entries, err := e.store.ListAudit(context.Background(), telemetry.AuditFilter{ResourceID: string(node.ID)})
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		for _, a := range entries {
			if a.Action == "export.readings" {
				count++
			}
		}
		if count != 3 { // CSV, JSON, days=1; refusals are not exports
			t.Errorf("%d export.readings entries, want 3: %+v", count, entries)
		}
	})
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestExportNodes(t *testing.T) {
	e := newAPIEnv(t)
	w := newAnalyticsWorld(t, e)
	evil := telemetry.Node{NodeKey: "an-evil", Label: "=HYPERLINK(\"http://x\")", Category: "Sump", AnalyticsType: "EvaraTank",
		CommunityID: &w.comm.ID, DistributorID: w.comm.DistributorID}
	if err := e.store.CreateNode(context.Background(), &evil); err != nil {
		t.Fatal(err)
	}
	recs := parseCSV(t, e.expect(http.StatusOK, "GET", "/api/v1/export/nodes", w.admin, nil), -1)
	wantHead := []string{"id", "node_key", "label", "category", "analytics_type", "location_name", "lat", "lng", "capacity",
		"status", "thingspeak_channel_id", "field_mapping", "poll_interval_seconds", "community_id", "customer_id",
		"distributor_id", "created_by", "created_at", "updated_at", "last_seen"}
	if !slices.Equal(recs[0], wantHead) {
		t.Errorf("header %q, want %q", recs[0], wantHead)
	}
	var labels []string
	for _, rec := range recs[1:] {
		if len(rec) != len(wantHead) {
			t.Fatalf("row of %d cells: %q", len(rec), rec)
		}
		labels = append(labels, rec[2])
	}
	want := []string{"'=HYPERLINK(\"http://x\")", "Node an-bore", "Node an-nocap", "Node an-sump", "Node an-tank"}
	if !slices.Equal(labels, want) {
		t.Errorf("labels %q, want %q (label order; a formula defused)", labels, want)
	}
	if tank := recs[5]; tank[0] != string(w.tank.ID) || tank[8] != "2000" || tank[9] != "Online" ||
		tank[11] != `{"field1":"water_level","field2":"temperature","field5":"pressure"}` {
		t.Errorf("tank row %q", tank)
	}

	// The superadmin's export holds the simulator's nodes: never their keys.
	raw := e.expect(http.StatusOK, "GET", "/api/v1/export/nodes?format=json", e.fx.Tokens["superadmin"], nil)
	var nodes []map[string]any
	if err := json.Unmarshal(raw, &nodes); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if len(nodes) != 8 { // NodeA, NodeA2, NodeB and the world's five
		t.Errorf("%d nodes, want 8", len(nodes))
	}
	for _, ch := range e.sim.Channels() {
		if bytes.Contains(raw, []byte(ch.ReadKey)) {
			t.Errorf("the export holds channel %d's read key", ch.ID)
		}
	}
	for _, n := range nodes {
		keys := make([]string, 0, len(n))
		for k := range n {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		// JSON: the node object of the API (CSV: SPEC §7's columns).
		wantKeys := append(slices.Clone(wantHead), "hardware_id", "device_type", "config", "version")
		slices.Sort(wantKeys)
		if !slices.Equal(keys, wantKeys) {
			t.Fatalf("node fields %q, want %q", keys, wantKeys)
		}
	}
	// Tenant B's customer sees only its node.
	if recs := parseCSV(t, e.expect(http.StatusOK, "GET", "/api/v1/export/nodes", e.fx.Tokens["customer_b"], nil), -1); len(recs) != 2 ||
		recs[1][0] != string(e.fx.NodeB.ID) {
		t.Errorf("tenant B's customer exports %q", recs)
	}
}

func TestExportAlerts(t *testing.T) {
	e := newAPIEnv(t)
	w := newAnalyticsWorld(t, e)
	opener, ok := e.store.(interface {
		OpenAlert(ctx context.Context, al *telemetry.Alert) (bool, error)
	})
	if !ok {
		t.Fatal("the store opens no alerts")
	}
	al := &telemetry.Alert{NodeID: w.tank.ID, Kind: telemetry.AlertKindDeviceOffline, Severity: telemetry.SeverityWarning,
		Message: "-no data, 3 intervals", TriggeredAt: time.Now().UTC().Truncate(time.Millisecond)}
	if _, err := opener.OpenAlert(context.Background(), al); err != nil {
		t.Fatal(err)
	}
	recs := parseCSV(t, e.expect(http.StatusOK, "GET", "/api/v1/export/alerts", w.admin, nil), -1)
	if len(recs) != 2 || recs[1][0] != al.ID || recs[1][1] != string(w.tank.ID) || recs[1][7] != "'-no data, 3 intervals" || recs[1][6] != "open" {
		t.Errorf("alerts export %q", recs)
	}
	raw := e.expect(http.StatusOK, "GET", "/api/v1/export/alerts?format=json&status=open&node_id="+string(w.tank.ID), w.admin, nil)
	var alerts []struct {
		ID       string `json:"id"`
		Severity string `json:"severity"`
	}
	if err := json.Unmarshal(raw, &alerts); err != nil || len(alerts) != 1 || alerts[0].ID != al.ID || alerts[0].Severity != "warning" {
		t.Errorf("JSON alerts export %s (%v)", raw, err)
	}
	for _, c := range []struct {
		path, token string
		status      int
		rows        int
	}{
		{"/api/v1/export/alerts", e.fx.Tokens["community_admin_b"], http.StatusOK, 0},
		{"/api/v1/export/alerts?status=resolved", w.admin, http.StatusOK, 0},
		{"/api/v1/export/alerts?node_id=" + string(w.tank.ID), e.fx.Tokens["community_admin_b"], http.StatusNotFound, 0},
		{"/api/v1/export/alerts?status=bogus", w.admin, http.StatusUnprocessableEntity, 0},
		{"/api/v1/export/alerts?severity=bogus", w.admin, http.StatusUnprocessableEntity, 0},
	} {
		raw := e.expect(c.status, "GET", c.path, c.token, nil)
		if c.status == http.StatusOK {
			if recs := parseCSV(t, raw, -1); len(recs) != 1+c.rows {
				t.Errorf("%s: %d rows, want %d", c.path, len(recs)-1, c.rows)
			}
		}
	}
}

func TestExportReport(t *testing.T) {
	e := newAPIEnv(t)
	w := newAnalyticsWorld(t, e)
	path := "/api/v1/reports/node/" + string(w.tank.ID) + "/export?days=3"
	resp, raw := e.do("GET", path, w.admin, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Disposition"), `filename="report-`+string(w.tank.ID)) {
		t.Fatalf("status %d, %q: %s", resp.StatusCode, resp.Header.Get("Content-Disposition"), truncate(raw))
	}
	recs := parseCSV(t, raw, -1)
	if !slices.Equal(recs[0], []string{"report", "node"}) {
		t.Errorf("first line %q", recs[0])
	}
	head := map[string]string{}
	at := slices.IndexFunc(recs, func(r []string) bool { return len(r) > 0 && r[0] == "entry_id" })
	if at < 0 {
		t.Fatalf("no readings header in %q", recs)
	}
	for _, r := range recs[1:at] {
		if len(r) != 2 {
			t.Fatalf("report line %q is not name,value", r)
		}
		head[r[0]] = r[1]
	}
	if head["id"] != string(w.tank.ID) || head["node_key"] != "an-tank" || head["days"] != "3" ||
		head["since"] != w.today.AddDate(0, 0, -2).Format("2006-01-02") {
		t.Errorf("report lines %v", head)
	}
	var levels []string
	for _, r := range recs[at+1:] {
		levels = append(levels, r[2])
	}
	if want := []string{"140", "120", "180", "170", "160", "150"}; !slices.Equal(levels, want) { // not the reading before the window
		t.Errorf("report levels %q, want %q", levels, want)
	}

	raw = e.expect(http.StatusOK, "GET", path+"&format=json", w.admin, nil)
	var rep struct {
		Report struct {
			Days int `json:"days"`
			Node struct {
				ID string `json:"id"`
			} `json:"node"`
		} `json:"report"`
		Readings []struct {
			Metrics map[string]float64 `json:"metrics"`
		} `json:"readings"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil || rep.Report.Days != 3 || rep.Report.Node.ID != string(w.tank.ID) ||
		len(rep.Readings) != 6 || rep.Readings[0].Metrics["field3"] != 7 {
		t.Errorf("JSON report %s (%v)", truncate(raw), err)
	}
	e.expect(http.StatusNotFound, "GET", path, e.fx.Tokens["customer_b"], nil)
	e.expect(http.StatusNotFound, "GET", path, e.fx.Tokens["customer"], nil)
}

// TestExportConstantMemory streams an export far larger than what the
// process may grow by while serving it, sampling the live heap (after a
// collection) as the body arrives; then leaves one half-read and checks
// that its stream ends.
func TestExportConstantMemory(t *testing.T) {
	e := newAPIEnv(t)
	w := newAnalyticsWorld(t, e)
	const n = 200_000
	node, _ := w.bulkNode(t, e, "huge", n, 8)
	path := "/api/v1/export/readings/" + string(node.ID)

	base := liveHeap()
	body := e.open(t, path, w.admin)
	var (
		size, lines int64
		peak        uint64
		buf         = make([]byte, 64<<10)
		nextSample  int64
	)
	for {
		k, err := body.Read(buf)
		size += int64(k)
		lines += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if size >= nextSample {
			// Not reading for a moment lets the stream stall on full
			// buffers, so that the collection does not count the rows
			// being encoded meanwhile as live.
			time.Sleep(200 * time.Millisecond)
			peak, nextSample = max(peak, liveHeap()), size+2<<20
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	_ = body.Close()
	if lines != n+1 {
		t.Fatalf("%d lines, want %d", lines, n+1)
	}
	growth := int64(peak) - int64(base)
	t.Logf("export of %d bytes; live heap grew by at most %d bytes", size, growth)
	if growth > size/3 { // held whole, it would be more than size
		t.Errorf("the live heap grew by %d bytes while streaming %d: the export is being held in memory", growth, size)
	}

	// A client that goes away mid-export ends the stream (and its query).
	body = e.open(t, path, w.admin)
	if _, err := io.ReadFull(body, buf); err != nil {
		t.Fatal(err)
	}
	_ = body.Close()
	e.client.CloseIdleConnections()
	for deadline := time.Now().Add(20 * time.Second); exportsRunning(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the export still runs after its client went away")
		}
	}
}

// open starts a GET and returns the body unread.
func (e *apiEnv) open(t *testing.T, path, token string) io.ReadCloser {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "GET", e.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, raw)
	}
	return resp.Body
}

// liveHeap is the bytes of live heap objects, right after a collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// exportsRunning reports whether an export's stream goroutine is alive.
func exportsRunning() bool {
	buf := make([]byte, 8<<20)
	return bytes.Contains(buf[:runtime.Stack(buf, true)], []byte("api.(*Server).writeExport"))
}
