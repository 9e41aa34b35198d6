package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/evaratech/evara/internal/telemetry"
)

// overrideExpect says what an override list does to one field of the
// entries with ids in [from, to]: apply maps the field's natural value to
// the served one, and raw, when set, is the JSON the feed must show for it.
type overrideExpect struct {
	from, to int64
	field    int
	apply    func(telemetry.Field) telemetry.Field
	raw      string
}

func setTo(v float64) func(telemetry.Field) telemetry.Field {
	return func(telemetry.Field) telemetry.Field { return telemetry.Field{Value: v, Valid: true} }
}

func setNull(telemetry.Field) telemetry.Field { return telemetry.Field{} }

func shiftBy(d float64) func(telemetry.Field) telemetry.Field {
	return func(f telemetry.Field) telemetry.Field {
		if f.Valid {
			f.Value += d
		}
		return f
	}
}

func TestOverrides(t *testing.T) {
	const period = 15 * time.Second
	opts := Options{Channels: 2, Period: period, History: 100}
	// at(k) is entry k's created_at, the same in every simulator of opts.
	natural := serve(t, opts)
	sp, other := natural.sim.Channels()[0], natural.sim.Channels()[1]
	at := func(k int64) time.Time { return natural.sim.Entries(sp.ID, k, k)[0].CreatedAt }
	const open = math.MaxInt64
	cases := []struct {
		name string
		set  []Override
		add  []Override // AddOverride'd after SetOverrides(set)
		want []overrideExpect
	}{
		{
			name: "value within a window",
			set:  []Override{{Channel: sp.ID, Field: 1, Value: new(950.0), From: at(41), Until: at(61)}},
			want: []overrideExpect{{from: 41, to: 60, field: 1, apply: setTo(950), raw: `"950"`}},
		},
		{
			name: "bounds between seconds",
			set: []Override{{Channel: sp.ID, Field: 1, Value: new(12.25),
				From: at(41).Add(time.Nanosecond), Until: at(61).Add(time.Nanosecond)}},
			want: []overrideExpect{{from: 42, to: 61, field: 1, apply: setTo(12.25), raw: `"12.25"`}},
		},
		{
			name: "null",
			set:  []Override{{Channel: sp.ID, Field: 1, From: at(10), Until: at(20)}},
			want: []overrideExpect{{from: 10, to: 19, field: 1, apply: setNull, raw: `null`}},
		},
		{
			name: "open-ended, new entries too",
			set:  []Override{{Channel: sp.ID, Field: 2, Value: new(-3.5), From: at(90)}},
			want: []overrideExpect{{from: 90, to: open, field: 2, apply: setTo(-3.5), raw: `"-3.5"`}},
		},
		{
			name: "from the first entry",
			set:  []Override{{Channel: sp.ID, Field: 1, Value: new(0.0), Until: at(5)}},
			want: []overrideExpect{{from: 1, to: 4, field: 1, apply: setTo(0), raw: `"0"`}},
		},
		{
			name: "a field the kind does not use",
			set:  []Override{{Channel: sp.ID, Field: 5, Value: new(7.5), From: at(50), Until: at(52)}},
			want: []overrideExpect{{from: 50, to: 51, field: 5, apply: setTo(7.5), raw: `"7.5"`}},
		},
		{
			name: "offset; an unused field stays absent",
			set: []Override{
				{Channel: sp.ID, Field: 2, Offset: new(10.0), From: at(60), Until: at(70)},
				{Channel: sp.ID, Field: 6, Offset: new(1.0)},
			},
			want: []overrideExpect{{from: 60, to: 69, field: 2, apply: shiftBy(10)}},
		},
		{
			name: "the later override wins, per field",
			set: []Override{
				{Channel: sp.ID, Field: 1, Value: new(1.0), From: at(20), Until: at(40)},
				{Channel: sp.ID, Field: 1, Value: new(2.0), From: at(30), Until: at(50)},
				{Channel: sp.ID, Field: 2, Value: new(3.0), From: at(25), Until: at(35)},
			},
			want: []overrideExpect{
				{from: 20, to: 29, field: 1, apply: setTo(1), raw: `"1"`},
				{from: 30, to: 49, field: 1, apply: setTo(2), raw: `"2"`},
				{from: 25, to: 34, field: 2, apply: setTo(3), raw: `"3"`},
			},
		},
		{
			name: "a narrower later override wins inside a wider one",
			set: []Override{
				{Channel: sp.ID, Field: 1, Value: new(1.0), From: at(20), Until: at(50)},
				{Channel: sp.ID, Field: 1, Value: new(2.0), From: at(30), Until: at(40)},
			},
			want: []overrideExpect{
				{from: 20, to: 29, field: 1, apply: setTo(1), raw: `"1"`},
				{from: 30, to: 39, field: 1, apply: setTo(2), raw: `"2"`},
				{from: 40, to: 49, field: 1, apply: setTo(1), raw: `"1"`},
			},
		},
		{
			name: "AddOverride wins over the list in force",
			set:  []Override{{Channel: sp.ID, Field: 1, Value: new(2.0), From: at(30), Until: at(40)}},
			add:  []Override{{Channel: sp.ID, Field: 1, Value: new(1.0), From: at(20), Until: at(50)}},
			want: []overrideExpect{{from: 20, to: 49, field: 1, apply: setTo(1), raw: `"1"`}},
		},
		{
			name: "value and null in turn on one field",
			set: []Override{
				{Channel: sp.ID, Field: 3, Value: new(999.0), From: at(70), Until: at(80)},
				{Channel: sp.ID, Field: 3, From: at(75), Until: at(76)},
			},
			want: []overrideExpect{
				{from: 70, to: 74, field: 3, apply: setTo(999), raw: `"999"`},
				{from: 75, to: 75, field: 3, apply: setNull, raw: `null`},
				{from: 76, to: 79, field: 3, apply: setTo(999), raw: `"999"`},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, ref := serve(t, opts), serve(t, opts)
			if err := h.sim.SetOverrides(tc.set); err != nil {
				t.Fatalf("SetOverrides: %v", err)
			}
			for _, o := range tc.add {
				if err := h.sim.AddOverride(o); err != nil {
					t.Fatalf("AddOverride: %v", err)
				}
			}
			for step := range 3 { // at Start, then with new entries
				if step > 0 {
					h.clock.Advance(5 * period)
					ref.clock.Advance(5 * period)
				}
				checkOverridden(t, h, ref, sp, tc.want)
				if diff := cmp.Diff(ref.sim.Entries(other.ID, 1, 200), h.sim.Entries(other.ID, 1, 200)); diff != "" {
					t.Errorf("another channel changed (-natural +got):\n%s", diff)
				}
			}
		})
	}
}

// checkOverridden compares sp's whole feed in h with the natural one in ref,
// changed as want says and nowhere else.
func checkOverridden(t *testing.T, h, ref *harness, sp ChannelSpec, want []overrideExpect) {
	t.Helper()
	refDoc, natural := ref.feed(sp, "results=8000")
	doc, served := h.feed(sp, "results=8000")
	last := h.sim.LastEntryID(sp.ID)
	entries := h.sim.Entries(sp.ID, 1, last)
	if diff := cmp.Diff(entries, served); diff != "" {
		t.Fatalf("the HTTP feed differs from Entries (-Entries +HTTP):\n%s", diff)
	}
	if len(natural) != len(served) {
		t.Fatalf("%d entries served, %d naturally", len(served), len(natural))
	}
	expected := make([]telemetry.Entry, len(natural))
	copy(expected, natural)
	changed := 0
	for _, w := range want {
		for k := w.from; k <= min(w.to, last); k++ {
			e := &expected[k-1]
			e.Fields[w.field-1] = w.apply(e.Fields[w.field-1])
			changed++
		}
	}
	if changed == 0 {
		t.Fatal("the expectation covers no entry")
	}
	// The sums of offsets are served rounded to the field's decimals.
	if diff := cmp.Diff(expected, served, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	// The JSON itself: null stays null, and a field shows up only where set.
	for i, raw := range doc.Feeds {
		k := int64(i + 1)
		for n := 1; n <= telemetry.FieldCount; n++ {
			key := "field" + strconv.Itoa(n)
			wantRaw, unknown := refDoc.Feeds[i][key], false
			for _, w := range want {
				if w.field == n && k >= w.from && k <= w.to {
					wantRaw, unknown = json.RawMessage(w.raw), w.raw == "" // an offset's sum: checked above
				}
			}
			if !unknown && string(raw[key]) != string(wantRaw) {
				t.Errorf("entry %d: %s is %s, want %s", k, key, raw[key], wantRaw)
			}
		}
	}
	lastReply := h.get(lastPath(sp))
	var lastRaw map[string]json.RawMessage
	if err := json.Unmarshal(lastReply.body, &lastRaw); err != nil {
		t.Fatalf("last.json %s: %v", lastReply.body, err)
	}
	if diff := cmp.Diff(served[len(served)-1], parseEntry(t, lastRaw)); diff != "" {
		t.Errorf("last.json differs from the feed's newest entry (-feed +last):\n%s", diff)
	}
}

func TestSetOverridesRejectsInvalid(t *testing.T) {
	s, err := New(Options{Channels: 2, Start: testStart(), Now: testStart})
	if err != nil {
		t.Fatal(err)
	}
	sp := s.Channels()[0]
	t0 := testStart()
	inForce := []Override{{Channel: sp.ID, Field: 1, Value: new(1.0)}}
	if err := s.SetOverrides(inForce); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		o    Override
	}{
		{"unknown channel", Override{Channel: 9999999, Field: 1, Value: new(1.0)}},
		{"field 0", Override{Channel: sp.ID, Field: 0, Value: new(1.0)}},
		{"field 9", Override{Channel: sp.ID, Field: 9, Value: new(1.0)}},
		{"NaN", Override{Channel: sp.ID, Field: 1, Value: new(math.NaN())}},
		{"infinite value", Override{Channel: sp.ID, Field: 1, Value: new(math.Inf(1))}},
		{"infinite offset", Override{Channel: sp.ID, Field: 1, Offset: new(math.Inf(-1))}},
		{"value and offset", Override{Channel: sp.ID, Field: 1, Value: new(1.0), Offset: new(1.0)}},
		{"empty window", Override{Channel: sp.ID, Field: 1, From: t0, Until: t0}},
		{"until before from", Override{Channel: sp.ID, Field: 1, From: t0, Until: t0.Add(-time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SetOverrides([]Override{{Channel: sp.ID, Field: 2}, tc.o}); !errors.Is(err, telemetry.ErrInvalid) {
				t.Errorf("SetOverrides: %v, want ErrInvalid", err)
			}
			if err := s.AddOverride(tc.o); !errors.Is(err, telemetry.ErrInvalid) {
				t.Errorf("AddOverride: %v, want ErrInvalid", err)
			}
			if diff := cmp.Diff(inForce, s.Overrides()); diff != "" {
				t.Errorf("a rejected list changed the overrides (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOverridesAreCopied(t *testing.T) {
	const id = firstChannelID
	v := 5.0
	list := []Override{{Channel: id, Field: 1, Value: &v}}
	s, err := New(Options{Channels: 1, Overrides: list}) // as SetOverrides(list)
	if err != nil {
		t.Fatal(err)
	}
	v = 6
	list[0].Field = 2
	*s.Overrides()[0].Value = 7
	want := []Override{{Channel: id, Field: 1, Value: new(5.0)}}
	if diff := cmp.Diff(want, s.Overrides()); diff != "" {
		t.Errorf("writes through the caller's values reached the simulator (-want +got):\n%s", diff)
	}
	if got := s.Entries(id, defaultHistory, defaultHistory)[0].Fields[0]; got != (telemetry.Field{Value: 5, Valid: true}) {
		t.Errorf("served field1 = %+v, want 5", got)
	}
}

func TestPostOverrides(t *testing.T) {
	h := serve(t, Options{Channels: 2})
	sp := h.sim.Channels()[0]
	t0 := testStart()
	body := `{"overrides":[
		{"channel":2000001,"field":1,"value":950,"from":"-20s","until":"+30s"},
		{"channel":2000001,"field":3,"value":null,"from":"2026-02-26T21:00:00Z","until":"2026-02-26T22:00:00.5Z"},
		{"channel":2000002,"field":2,"offset":-1.5,"from":"1m"},
		{"channel":2000002,"field":1,"value":0.25}]}`
	r := h.do(http.MethodPost, "/_sim/overrides", []byte(body))
	if r.status != http.StatusOK {
		t.Fatalf("POST: status %d, body %s", r.status, r.body)
	}
	want := []Override{
		{Channel: 2000001, Field: 1, Value: new(950.0), From: t0.Add(-20 * time.Second), Until: t0.Add(30 * time.Second)},
		{Channel: 2000001, Field: 3, From: time.Date(2026, 2, 26, 21, 0, 0, 0, time.UTC), Until: time.Date(2026, 2, 26, 22, 0, 0, 5e8, time.UTC)},
		{Channel: 2000002, Field: 2, Offset: new(-1.5), From: t0.Add(time.Minute)},
		{Channel: 2000002, Field: 1, Value: new(0.25)},
	}
	if diff := cmp.Diff(want, h.sim.Overrides()); diff != "" {
		t.Errorf("overrides after POST (-want +got):\n%s", diff)
	}
	for _, answer := range []reply{r, h.get("/_sim/overrides")} {
		got, err := ParseOverrides(answer.body)
		if err != nil {
			t.Fatalf("the answer %s does not parse back: %v", answer.body, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("answer %s (-want +got):\n%s", answer.body, diff)
		}
	}
	var last map[string]json.RawMessage
	if err := json.Unmarshal(h.get(lastPath(sp)).body, &last); err != nil {
		t.Fatal(err)
	}
	if string(last["field1"]) != `"950"` || string(last["field3"]) != `null` {
		t.Errorf("the newest entry has field1 %s and field3 %s, want \"950\" and null", last["field1"], last["field3"])
	}

	r = h.do(http.MethodDelete, "/_sim/overrides", nil)
	if r.status != http.StatusOK || !bytes.Equal(r.body, []byte(`{"overrides":[]}`)) {
		t.Errorf("DELETE: status %d, body %s", r.status, r.body)
	}
	if got := h.sim.Overrides(); len(got) != 0 {
		t.Errorf("after DELETE: %v", got)
	}
	if got := h.get(lastPath(sp)); bytes.Contains(got.body, []byte(`"950"`)) {
		t.Errorf("after DELETE the newest entry is still overridden: %s", got.body)
	}
	if st := h.sim.Stats(); st.RequestsTotal != 2 {
		t.Errorf("Stats counts %d requests, want the 2 last.json ones (not /_sim/overrides)", st.RequestsTotal)
	}
}

func TestPostOverridesRejectsBadInput(t *testing.T) {
	h := serve(t, Options{Channels: 2})
	want := []Override{{Channel: 2000001, Field: 1, Value: new(7.0)}}
	if r := h.do(http.MethodPost, "/_sim/overrides", []byte(`{"overrides":[{"channel":2000001,"field":1,"value":7}]}`)); r.status != http.StatusOK {
		t.Fatalf("POST: status %d, body %s", r.status, r.body)
	}
	one := func(fields string) string { return `{"overrides":[{"channel":2000001,"field":1,` + fields + `}]}` }
	for _, bad := range []string{
		``, `{`, `[]`, `{"overrides":{}}`, `{"overides":[]}`, `{} {}`, one(`"value":1`) + ` x`,
		`{"overrides":[{"channel":2000001,"field":1}]}`,
		`{"overrides":[{"channel":2000001,"field":0,"value":1}]}`,
		`{"overrides":[{"channel":2000001,"field":9,"value":1}]}`,
		`{"overrides":[{"channel":9999999,"field":1,"value":1}]}`,
		`{"overrides":[{"channel":-1,"field":1,"value":1}]}`,
		`{"overrides":[{"channel":"2000001","field":1,"value":1}]}`,
		one(`"value":"950"`), one(`"value":true`), one(`"value":1e999`), one(`"valu":1`),
		one(`"value":1,"offset":1`), one(`"value":null,"offset":1`), one(`"offset":null`),
		one(`"value":1,"from":"yesterday"`), one(`"value":1,"until":"2026-02-30T00:00:00Z"`),
		one(`"value":1,"from":"+30s","until":"-5s"`), one(`"value":1,"from":"5s","until":"5s"`),
		one(`"value":1,"from":5`),
	} {
		t.Run("rejects "+bad, func(t *testing.T) {
			r := h.do(http.MethodPost, "/_sim/overrides", []byte(bad))
			if r.status != http.StatusBadRequest {
				t.Errorf("status %d, want 400; body %s", r.status, r.body)
			}
			if p := decodeProblem(t, r); p.Status != "400" || p.Error.Code != "error_bad_request" || p.Error.Details == "" {
				t.Errorf("error body %s", r.body)
			}
			if diff := cmp.Diff(want, h.sim.Overrides()); diff != "" {
				t.Errorf("a rejected POST changed the overrides (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("rejects a huge body", func(t *testing.T) {
		huge := append([]byte(`{"overrides":[`), bytes.Repeat([]byte(`{"channel":2000001,"field":1,"value":1},`), maxAdminBody/30)...)
		if r := h.do(http.MethodPost, "/_sim/overrides", huge); r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", r.status)
		}
		if diff := cmp.Diff(want, h.sim.Overrides()); diff != "" {
			t.Errorf("a rejected POST changed the overrides (-want +got):\n%s", diff)
		}
	})
	t.Run("rejects other methods", func(t *testing.T) {
		r := h.do(http.MethodPut, "/_sim/overrides", []byte(`{"overrides":[]}`))
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD, POST, DELETE" {
			t.Errorf("PUT: status %d, Allow %q", r.status, r.header.Get("Allow"))
		}
	})
}

func TestParseOverridesMessages(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"overrides":[{"channel":2000001,"field":9,"value":1}]}`, "overrides[0]: field 9: must be within 1..8"},
		{`{"overrides":[{"channel":2000001,"field":1,"value":1},{"channel":2000001,"field":1,"value":1,"from":"soon"}]}`,
			`overrides[1]: from "soon": want an RFC 3339 time or a duration relative to now such as -5s or +30s`},
		{`{"overrides":[{"channel":2000001,"field":1}]}`, "overrides[0]: give a value (a number, or null) or an offset"},
	} {
		_, err := ParseOverridesAt([]byte(tc.json), testStart())
		if !errors.Is(err, telemetry.ErrInvalid) || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
			t.Errorf("ParseOverridesAt(%s) = %v, want ErrInvalid saying %q", tc.json, err, tc.want)
		}
	}
}

// TestAddOverrideConcurrently adds overrides from several goroutines while
// feeds are served; none may be lost (run with -race).
func TestAddOverrideConcurrently(t *testing.T) {
	s, err := New(Options{Channels: 2})
	if err != nil {
		t.Fatal(err)
	}
	sp := s.Channels()[0]
	const writers, each = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				errs <- s.AddOverride(Override{Channel: sp.ID, Field: 1 + w, Value: new(float64(i))})
			}
		})
	}
	stop := make(chan struct{})
	served := make(chan int, 1)
	go func() {
		n := 0
		req := httptest.NewRequest(http.MethodGet, feedPath(sp, "results=10"), nil)
		for {
			select {
			case <-stop:
				served <- n
				return
			default:
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code == http.StatusOK {
				n++
			}
		}
	}()
	wg.Wait()
	close(stop)
	if n := <-served; n == 0 {
		t.Error("no feed was served while overrides were added")
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := len(s.Overrides()); got != writers*each {
		t.Errorf("%d overrides in force, want %d", got, writers*each)
	}
	// Each writer's last override is the newest for its field.
	e := s.Entries(sp.ID, defaultHistory, defaultHistory)[0]
	for w := range writers {
		if got := e.Fields[w]; got != (telemetry.Field{Value: each - 1, Valid: true}) {
			t.Errorf("field%d = %+v, want %d", w+1, got, each-1)
		}
	}
}
