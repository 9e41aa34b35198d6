package sim

import (
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/evaratech/evara/internal/telemetry"
)

func TestDemoSpecs(t *testing.T) {
	specs := DemoSpecs(1)
	kinds := make(map[Kind]int)
	keyPattern := regexp.MustCompile(`^[0-9A-Z]{16}$`)
	for i, sp := range specs {
		kinds[sp.Kind]++
		if sp.ID != telemetry.ChannelID(2000001+i) {
			t.Errorf("spec %d has id %d", i, sp.ID)
		}
		if !keyPattern.MatchString(sp.ReadKey) {
			t.Errorf("%s: key %q is not 16 uppercase alphanumerics", sp.Name, sp.ReadKey)
		}
		if math.Abs(sp.Latitude-17.38) > 0.1 || math.Abs(sp.Longitude-78.48) > 0.1 {
			t.Errorf("%s at %v,%v is not in Hyderabad", sp.Name, sp.Latitude, sp.Longitude)
		}
		if (sp.Kind == KindTank) != strings.HasSuffix(sp.Name, " OHT") {
			t.Errorf("%s is a %s", sp.Name, sp.Kind)
		}
		if (sp.Kind == KindTank || sp.Kind == KindSump) != (sp.Height > 0) {
			t.Errorf("%s (%s) has height %v", sp.Name, sp.Kind, sp.Height)
		}
		if err := sp.validate(); err != nil {
			t.Errorf("%s: %v", sp.Name, err)
		}
	}
	want := map[Kind]int{KindTank: 6, KindSump: 2, KindBorewell: 2, KindFlow: 1, KindQuality: 1}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(specs, DemoSpecs(1)); diff != "" {
		t.Errorf("DemoSpecs is not deterministic:\n%s", diff)
	}
	for i, sp := range DemoSpecs(2) {
		if sp.ReadKey == specs[i].ReadKey {
			t.Errorf("%s has key %s with seeds 1 and 2", sp.Name, sp.ReadKey)
		}
	}
}

func TestGeneratedChannels(t *testing.T) {
	for _, n := range []int{1, 5, 12, 13, 10000} {
		sim, err := New(Options{Channels: n, Seed: 3})
		if err != nil {
			t.Fatalf("%d channels: %v", n, err)
		}
		got := sim.Channels()
		if len(got) != n {
			t.Fatalf("asked for %d channels, got %d", n, len(got))
		}
		if diff := cmp.Diff(DemoSpecs(3)[:min(n, demoCount)], got[:min(n, demoCount)]); diff != "" {
			t.Errorf("%d channels do not start with DemoSpecs (-demo +got):\n%s", n, diff)
		}
		ids, keys, kinds := map[telemetry.ChannelID]bool{}, map[string]bool{}, map[Kind]int{}
		for _, sp := range got {
			if ids[sp.ID] || keys[sp.ReadKey] {
				t.Fatalf("%d channels: id %d or key %s repeats", n, sp.ID, sp.ReadKey)
			}
			ids[sp.ID], keys[sp.ReadKey] = true, true
			kinds[sp.Kind]++
		}
		if n == 10000 && (kinds[KindTank] < 4000 || kinds[KindSump] < 1000 || kinds[KindBorewell] < 1000 || kinds[KindFlow] < 500 || kinds[KindQuality] < 400) {
			t.Errorf("10000 channels are a poor mix: %v", kinds)
		}
	}
}

func TestExplicitSpecs(t *testing.T) {
	specs := []ChannelSpec{
		{ID: 1234567, ReadKey: "K1", Name: "Tank", Kind: KindTank, Height: 180},
		{ID: 1234568, ReadKey: "K2", Name: "Sump", Kind: KindSump},
		{ID: 1234569, ReadKey: "K3", Name: "Flow", Kind: KindFlow},
	}
	sim, err := New(Options{Specs: specs})
	if err != nil {
		t.Fatal(err)
	}
	got := sim.Channels()
	if got[0].Height != 180 || got[1].Height < 200 || got[1].Height > 350 || got[2].Height != 0 {
		t.Errorf("heights %v, %v, %v: want 180 as given, a derived sump depth, and none for a flow meter",
			got[0].Height, got[1].Height, got[2].Height)
	}
	got[1].Height = 0
	if diff := cmp.Diff(specs, got); diff != "" {
		t.Errorf("Channels() (-given +got):\n%s", diff)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	good := ChannelSpec{ID: 1, ReadKey: "K", Kind: KindTank}
	cases := []struct {
		name string
		opts Options
	}{
		{"negative channels", Options{Channels: -1}},
		{"negative period", Options{Period: -time.Second}},
		{"period below a second", Options{Period: 500 * time.Millisecond}},
		{"negative history", Options{History: -1}},
		{"history spanning centuries", Options{History: 1 << 40}},
		{"start before 1970", Options{Start: time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"start after 2099", Options{Start: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"channels disagree with specs", Options{Channels: 2, Specs: []ChannelSpec{good}}},
		{"duplicate ids", Options{Specs: []ChannelSpec{good, good}}},
		{"zero id", Options{Specs: []ChannelSpec{{ReadKey: "K", Kind: KindTank}}}},
		{"empty key", Options{Specs: []ChannelSpec{{ID: 1, Kind: KindTank}}}},
		{"unknown kind", Options{Specs: []ChannelSpec{{ID: 1, ReadKey: "K", Kind: "pond"}}}},
		{"latitude", Options{Specs: []ChannelSpec{{ID: 1, ReadKey: "K", Kind: KindTank, Latitude: 91}}}},
		{"negative height", Options{Specs: []ChannelSpec{{ID: 1, ReadKey: "K", Kind: KindTank, Height: -5}}}},
		{"height of a flow meter", Options{Specs: []ChannelSpec{{ID: 1, ReadKey: "K", Kind: KindFlow, Height: 5}}}},
		{"bad error rate", Options{Faults: FaultConfig{Global: Faults{ErrorRate: 1.5}}}},
		{"faults for an unknown channel", Options{Faults: FaultConfig{Channels: map[telemetry.ChannelID]Faults{42: {}}}}},
		{"negative latency", Options{Faults: FaultConfig{Global: Faults{Latency: -time.Second}}}},
		{"NaN rate limit", Options{Faults: FaultConfig{Global: Faults{RateLimit: math.NaN()}}}},
		{"empty outage", Options{Faults: FaultConfig{Global: Faults{Outages: []Window{{Start: testStart(), End: testStart()}}}}}},
		{"override of an unknown channel", Options{Overrides: []Override{{Channel: 42, Field: 1}}}},
		{"override of field 9", Options{Overrides: []Override{{Channel: firstChannelID, Field: 9}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.opts); !errors.Is(err, telemetry.ErrInvalid) {
				t.Errorf("New: %v, want an error wrapping ErrInvalid", err)
			}
		})
	}
	if _, err := New(Options{}); err != nil {
		t.Errorf("the zero Options must work: %v", err)
	}
}

func TestFaultConfigActive(t *testing.T) {
	cases := []struct {
		fc   FaultConfig
		want bool
	}{
		{FaultConfig{}, false},
		{FaultConfig{Channels: map[telemetry.ChannelID]Faults{1: {}}}, false},
		{FaultConfig{Global: Faults{LatencyJitter: time.Millisecond}}, true},
		{FaultConfig{Channels: map[telemetry.ChannelID]Faults{1: {Outages: []Window{{}}}}}, true},
	}
	for i, tc := range cases {
		if got := tc.fc.Active(); got != tc.want {
			t.Errorf("case %d: Active() = %v, want %v", i, got, tc.want)
		}
	}
}

func TestFaultsAreCopied(t *testing.T) {
	sim, err := New(Options{Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	w := []Window{{Start: testStart(), End: testStart().Add(time.Hour)}}
	fc := FaultConfig{Global: Faults{Outages: w}, Channels: map[telemetry.ChannelID]Faults{2000001: {}}}
	if err := sim.SetFaults(fc); err != nil {
		t.Fatal(err)
	}
	w[0].End = testStart()
	delete(fc.Channels, 2000001)
	got := sim.Faults()
	if got.Global.Outages[0].End != testStart().Add(time.Hour) || len(got.Channels) != 1 {
		t.Errorf("the simulator shares memory with the caller's config: %+v", got)
	}
}
