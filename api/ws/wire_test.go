package ws

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/evaratech/evara/internal/telemetry"
)

// The hand-written batch is what json.Marshal makes of the same updates.
func TestEncodeBatchMatchesJSON(t *testing.T) {
	a, err := encodeEvent(telemetryEvent("n1", 1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := encodeEvent(telemetry.LiveEvent{Kind: telemetry.LiveStatus, NodeID: "n<2>&", ProducedUnixMs: 5, Status: telemetry.StatusOffline})
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(struct {
		Event   string            `json:"event"`
		Updates []json.RawMessage `json:"updates"`
		TS      int64             `json:"ts"`
	}{batchEvent, []json.RawMessage{a, b}, 1767225600001})
	if err != nil {
		t.Fatal(err)
	}
	if got := encodeBatch([][]byte{a, b}, 1767225600001); !bytes.Equal(got, want) {
		t.Errorf("batch\n got %s\nwant %s", got, want)
	}
}

func TestFrameCache(t *testing.T) {
	var fc frameCache
	ev := telemetryEvent("n1", 1)
	first, err := fc.encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := encodeEvent(ev)
	if !bytes.Equal(first, want) {
		t.Fatalf("encoded %s, want %s", first, want)
	}
	again, _ := fc.encode(ev) // another connection's copy of the same event
	if &again[0] != &first[0] {
		t.Error("the same reading was encoded again")
	}

	// Not the same reading: each is encoded for what it is.
	for name, other := range map[string]telemetry.LiveEvent{
		"equal metrics, another map": func() telemetry.LiveEvent {
			e := ev
			e.Metrics = map[string]float64{"water_level": 1}
			return e
		}(),
		"handed over at subscribe (its own ts)": func() telemetry.LiveEvent { e := ev; e.ProducedUnixMs++; return e }(),
		"another status":                        func() telemetry.LiveEvent { e := ev; e.Status = telemetry.StatusOffline; return e }(),
		"another entry":                         func() telemetry.LiveEvent { e := ev; e.EntryID = 2; return e }(),
	} {
		got, err := fc.encode(other)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := encodeEvent(other); !bytes.Equal(got, want) {
			t.Errorf("%s: got %s, want %s", name, got, want)
		}
	}

	// An older reading arriving late does not evict the newer one.
	newer := telemetryEvent("n2", 9)
	n1, _ := fc.encode(newer)
	if _, err := fc.encode(telemetryEvent("n2", 3)); err != nil {
		t.Fatal(err)
	}
	if n2, _ := fc.encode(newer); &n2[0] != &n1[0] {
		t.Error("a late older reading evicted the newer one")
	}
}
