package thingspeak

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// feedBody renders a ThingSpeak feed of n entries with three fields, the
// shape of an Evara tank channel.
func feedBody(n int) []byte {
	var b strings.Builder
	t0 := time.Date(2026, 2, 26, 0, 0, 0, 0, time.UTC)
	fmt.Fprintf(&b, `{"channel":{"id":2000001,"name":"Block A OHT","latitude":"17.38","longitude":"78.48","field1":"Water Level","field2":"Temperature","field3":"TDS","created_at":"2025-01-01T00:00:00Z","updated_at":"%s","last_entry_id":%d},"feeds":[`,
		t0.Add(time.Duration(n)*15*time.Second).Format(time.RFC3339), 6_000_000+n)
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"created_at":"%s","entry_id":%d,"field1":"%d","field2":"%.2f","field3":"%d"}`,
			t0.Add(time.Duration(i)*15*time.Second).Format(time.RFC3339), 6_000_000+i, 100+i%150, 20+float64(i%700)/100, 200+i%90)
	}
	b.WriteString("]}")
	return []byte(b.String())
}

func TestParseFeed8000(t *testing.T) {
	feed, err := ParseFeed(feedBody(MaxResults))
	if err != nil {
		t.Fatal(err)
	}
	if len(feed.Entries) != MaxResults {
		t.Fatalf("entries = %d, want %d", len(feed.Entries), MaxResults)
	}
	for i, e := range feed.Entries {
		if e.EntryID != int64(6_000_001+i) {
			t.Fatalf("entry %d has id %d", i, e.EntryID)
		}
		if v, ok := e.Field(1); !ok || v != float64(100+(i+1)%150) {
			t.Fatalf("entry %d field1 = %v %v", i, v, ok)
		}
	}
}

func BenchmarkParseFeed8000(b *testing.B) {
	body := feedBody(MaxResults)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFeed(body); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseFeed: no input panics the parser, and whatever it accepts holds
// only finite numbers in valid fields.
func FuzzParseFeed(f *testing.F) {
	f.Add(feedBody(3))
	f.Add([]byte(`-1`))
	f.Add([]byte(`{"channel":{},"feeds":[{"field1":null,"field2":"","field3":"x","field4":"\u0031"}]}`))
	f.Add([]byte(`{"channel":{"id":1},"feeds":[{"entry_id":1,"fie`))
	f.Add([]byte(`{"feeds":[{"field1":1e999,"field2":"-0","field3":"0x1p-2","field4":"1_000"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		feed, err := ParseFeed(body)
		if err != nil {
			return
		}
		for _, e := range feed.Entries {
			for n := 1; n <= 8; n++ {
				if v, ok := e.Field(n); ok && (math.IsNaN(v) || math.IsInf(v, 0)) {
					t.Fatalf("field%d holds non-finite %v", n, v)
				}
			}
		}
	})
}

// FuzzFieldString: a field sent as any JSON string is valid exactly when
// its trimmed text is a finite number, and then holds that number.
func FuzzFieldString(f *testing.F) {
	for _, s := range []string{"176", " 23.5 ", "", "abc", "NaN", "Inf", "-0.25", "1e400", "0x10", "1_0", "\t7\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw, err := json.Marshal(s)
		if err != nil {
			t.Skip() // not representable as a JSON string
		}
		var fl field
		if err := fl.UnmarshalJSON(raw); err != nil {
			t.Fatalf("UnmarshalJSON(%s) = %v", raw, err)
		}
		// json.Marshal replaces invalid UTF-8, so compare with what was sent.
		var sent string
		_ = json.Unmarshal(raw, &sent)
		want, perr := strconv.ParseFloat(strings.TrimSpace(sent), 64)
		wantValid := perr == nil && !math.IsNaN(want) && !math.IsInf(want, 0) && strings.TrimSpace(sent) != ""
		if fl.Valid != wantValid || (wantValid && fl.Value != want) {
			t.Fatalf("field %q = %+v, want valid=%v value=%v", sent, fl, wantValid, want)
		}
	})
}
