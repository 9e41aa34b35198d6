package sim

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// history builds a simulator of explicit channels of one kind, with a long
// history at a one-minute period, and returns every entry of each channel.
func history(t *testing.T, kind Kind, n, entries int) (*Simulator, map[ChannelSpec][]telemetry.Entry) {
	t.Helper()
	specs := make([]ChannelSpec, n)
	for i := range specs {
		specs[i] = ChannelSpec{ID: telemetry.ChannelID(3000001 + i), ReadKey: "KEY", Name: string(kind), Kind: kind}
	}
	clock := newFakeClock(testStart())
	sim, err := New(Options{Specs: specs, History: entries, Period: time.Minute, Seed: 5, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	all := make(map[ChannelSpec][]telemetry.Entry)
	for _, sp := range sim.Channels() {
		all[sp] = sim.Entries(sp.ID, 1, int64(entries))
		if len(all[sp]) != entries {
			t.Fatalf("%d entries of %d", len(all[sp]), entries)
		}
	}
	return sim, all
}

// localHour is the hour of day in Hyderabad.
func localHour(ts time.Time) int { return ts.Add(istOffset * time.Second).UTC().Hour() }

func TestTankLevelStaysInTheTank(t *testing.T) {
	for _, kind := range []Kind{KindTank, KindSump} {
		t.Run(string(kind), func(t *testing.T) {
			_, all := history(t, kind, 20, 20000) // two weeks of minutes
			var peakDrop, peakN, quietDrop, quietN float64
			for sp, entries := range all {
				if sp.Height < 100 {
					t.Fatalf("height %v cm is not a tank's", sp.Height)
				}
				lo, hi, rises := math.Inf(1), math.Inf(-1), 0
				for i, e := range entries {
					v, ok := e.Field(1)
					if !ok || v < 0 || v > sp.Height {
						t.Fatalf("channel %d entry %d: level %v (valid %v) outside [0, %v]", sp.ID, e.EntryID, v, ok, sp.Height)
					}
					lo, hi = min(lo, v), max(hi, v)
					if i < 10 {
						continue
					}
					prev, _ := entries[i-1].Field(1)
					before, _ := entries[i-10].Field(1)
					switch d, hour := prev-v, localHour(e.CreatedAt); {
					case v-before > 5: // beyond sensor noise: the pump is filling
						rises++
					case v > before: // maybe filling: neither falling nor clearly rising
					case hour == 7 || hour == 19:
						peakDrop, peakN = peakDrop+d, peakN+1
					case hour == 1 || hour == 13:
						quietDrop, quietN = quietDrop+d, quietN+1
					}
				}
				if hi-lo < 0.3*sp.Height || rises == 0 {
					t.Errorf("channel %d ranges over %v..%v of %v cm with %d rising steps: no sawtooth", sp.ID, lo, hi, sp.Height, rises)
				}
			}
			if peak, quiet := peakDrop/peakN, quietDrop/quietN; !(peak > 1.5*quiet) {
				t.Errorf("the level falls %.3f cm/min at 7 and 19 h but %.3f at 1 and 13 h: want faster at the peaks", peak, quiet)
			}
		})
	}
}

func TestFlowVolumeIsTheIntegralOfTheRate(t *testing.T) {
	_, all := history(t, KindFlow, 10, 20000)
	const window = 120 // entries: two hours at one a minute
	for sp, entries := range all {
		var litres, integral float64
		for i, e := range entries {
			rate, ok1 := e.Field(1)
			vol, ok2 := e.Field(2)
			bar, ok3 := e.Field(3)
			if !ok1 || !ok2 || !ok3 || rate <= 0 || bar <= 0 {
				t.Fatalf("channel %d entry %d: rate %v, volume %v, pressure %v", sp.ID, e.EntryID, rate, vol, bar)
			}
			if i == 0 {
				continue
			}
			prev, _ := entries[i-1].Field(2)
			if vol < prev {
				t.Fatalf("channel %d: volume falls from %v to %v at entry %d", sp.ID, prev, vol, e.EntryID)
			}
			litres += vol - prev
			integral += rate // L/min × one minute
			if i%window == 0 {
				if math.Abs(litres-integral) > 0.05*integral {
					t.Fatalf("channel %d, two hours to entry %d: the totaliser grew %.0f L while the rates add up to %.0f L",
						sp.ID, e.EntryID, litres, integral)
				}
				litres, integral = 0, 0
			}
		}
	}
}

func TestBorewellDrawsDownWhilePumping(t *testing.T) {
	_, all := history(t, KindBorewell, 10, 5000)
	for sp, entries := range all {
		var on, off, onDepth, offDepth float64
		for _, e := range entries {
			depth, ok1 := e.Field(1)
			pump, ok2 := e.Field(2)
			if !ok1 || !ok2 || depth <= 0 || (pump != 0 && pump != 1) {
				t.Fatalf("channel %d entry %d: depth %v, pump %v", sp.ID, e.EntryID, depth, pump)
			}
			if pump == 1 {
				on, onDepth = on+1, onDepth+depth
			} else {
				off, offDepth = off+1, offDepth+depth
			}
		}
		if on == 0 || off == 0 || onDepth/on <= offDepth/off {
			t.Errorf("channel %d: %v entries pumping at mean depth %.2f m, %v resting at %.2f m", sp.ID, on, onDepth/on, off, offDepth/off)
		}
	}
}

func TestQualityWithinPhysicalRanges(t *testing.T) {
	_, all := history(t, KindQuality, 10, 5000)
	for sp, entries := range all {
		for _, e := range entries {
			tds, _ := e.Field(1)
			ph, _ := e.Field(2)
			ntu, _ := e.Field(3)
			temp, ok := e.Field(4)
			if tds < 30 || tds > 600 || ph < 6 || ph > 9 || ntu < 0.05 || ntu > 20 || !ok || temp < 10 || temp > 45 {
				t.Fatalf("channel %d entry %d: TDS %v, pH %v, turbidity %v, temperature %v", sp.ID, e.EntryID, tds, ph, ntu, temp)
			}
		}
	}
}

func TestTankTDSIsSometimesMissing(t *testing.T) {
	h := serve(t, Options{
		Specs:   []ChannelSpec{{ID: 3000001, ReadKey: "KEY", Name: "tank", Kind: KindTank}},
		History: 20000, Period: time.Minute,
	})
	sp := h.sim.Channels()[0]
	body := string(h.get(feedPath(sp, "results=8000")).body)
	nulls, empties := strings.Count(body, `"field3":null`), strings.Count(body, `"field3":""`)
	// 1 in 200 null and 1 in 500 empty: 40 and 16 expected in 8000.
	if nulls < 20 || nulls > 60 || empties < 6 || empties > 30 {
		t.Errorf("%d null and %d empty field3 in 8000 entries, want about 40 and 16", nulls, empties)
	}
	invalid := 0
	for _, e := range h.sim.Entries(sp.ID, 20000-7999, 20000) {
		if _, ok := e.Field(3); !ok {
			invalid++
		}
		if _, ok := e.Field(1); !ok {
			t.Fatalf("entry %d: field1 missing; only field3 may be", e.EntryID)
		}
	}
	if invalid != nulls+empties {
		t.Errorf("Entries reports %d invalid field3, the feed served %d null and %d empty", invalid, nulls, empties)
	}
	for _, kind := range []Kind{KindSump, KindBorewell, KindFlow, KindQuality} {
		_, all := history(t, kind, 3, 3000)
		for sp, entries := range all {
			for _, e := range entries {
				for n := 1; n <= len(kind.fieldNames()); n++ {
					if _, ok := e.Field(n); !ok {
						t.Fatalf("%s channel %d entry %d: field%d missing; only tanks miss values", kind, sp.ID, e.EntryID, n)
					}
				}
			}
		}
	}
}
