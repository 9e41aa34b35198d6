package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// Faults is one layer of injected failures.
type Faults struct {
	// Latency delays every answer that is not a 429 or 503; LatencyJitter adds
	// a uniform random extra in [0, LatencyJitter).
	Latency, LatencyJitter time.Duration
	// ErrorRate is the fraction of requests (0..1) answered 500.
	ErrorRate float64
	// RateLimit is the request rate (per second, with a burst of one second's
	// worth) above which requests get 429; 0 means no limit.
	RateLimit float64
	// Outages are windows in which every request gets 503.
	Outages []Window
}

// Window is the half-open interval [Start, End).
type Window struct {
	Start, End time.Time
}

func (w Window) contains(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }

// FaultConfig is the complete fault configuration: Global applies to every
// channel, and Channels[id] applies to that channel in addition (see the
// package documentation for how the layers combine).
type FaultConfig struct {
	Global   Faults
	Channels map[telemetry.ChannelID]Faults
}

// Active reports whether the layer injects anything at all.
func (f Faults) Active() bool {
	return f.Latency > 0 || f.LatencyJitter > 0 || f.ErrorRate > 0 || f.RateLimit > 0 || len(f.Outages) > 0
}

// Active reports whether any layer injects anything. An inactive config
// costs the request path one atomic load.
func (fc FaultConfig) Active() bool {
	if fc.Global.Active() {
		return true
	}
	for _, f := range fc.Channels {
		if f.Active() {
			return true
		}
	}
	return false
}

func (f Faults) validate() error {
	var errs []error
	if f.Latency < 0 || f.LatencyJitter < 0 {
		errs = append(errs, errors.New("latency and latency_jitter must be ≥ 0"))
	}
	if !(f.ErrorRate >= 0 && f.ErrorRate <= 1) {
		errs = append(errs, fmt.Errorf("error_rate %v: must be within 0..1", f.ErrorRate))
	}
	if !(f.RateLimit >= 0) || math.IsInf(f.RateLimit, 0) {
		errs = append(errs, fmt.Errorf("rate_limit %v: must be a finite number ≥ 0", f.RateLimit))
	}
	for _, w := range f.Outages {
		if !w.End.After(w.Start) {
			errs = append(errs, fmt.Errorf("outage %v–%v: end must be after start", w.Start, w.End))
		}
	}
	return errors.Join(errs...)
}

func (f Faults) clone() Faults {
	f.Outages = slices.Clone(f.Outages)
	return f
}

func (fc FaultConfig) clone() FaultConfig {
	out := FaultConfig{Global: fc.Global.clone()}
	if len(fc.Channels) > 0 {
		out.Channels = make(map[telemetry.ChannelID]Faults, len(fc.Channels))
		for id, f := range fc.Channels {
			out.Channels[id] = f.clone()
		}
	}
	return out
}

// SetFaults replaces the fault configuration at once for every later
// request; the rate limiters start afresh. A config naming an unknown
// channel or holding invalid values is rejected (wrapping
// telemetry.ErrInvalid) and the previous one stays in force.
func (s *Simulator) SetFaults(fc FaultConfig) error {
	errs := []error{fc.Global.validate()}
	for _, id := range slices.Sorted(maps.Keys(fc.Channels)) {
		if s.channel(id) == nil {
			errs = append(errs, fmt.Errorf("channel %d: no such channel", id))
		} else if err := fc.Channels[id].validate(); err != nil {
			errs = append(errs, fmt.Errorf("channel %d: %w", id, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sim: faults: %w: %w", telemetry.ErrInvalid, err)
	}
	s.faults.Store(newFaultState(fc.clone()))
	return nil
}

// Faults returns a copy of the fault configuration in force.
func (s *Simulator) Faults() FaultConfig { return s.faults.Load().cfg.clone() }

// faultState is an applied FaultConfig with the limiters' state. It is
// immutable except for those atomics, so requests read it without locks.
type faultState struct {
	cfg      FaultConfig
	active   bool // false: the request path skips fault handling entirely
	global   *layer
	channels map[telemetry.ChannelID]*layer
}

type layer struct {
	Faults
	limit gcra
}

func newLayer(f Faults) *layer {
	l := &layer{Faults: f}
	if f.RateLimit > 0 {
		l.limit.interval = max(1, int64(float64(time.Second)/f.RateLimit))
		l.limit.tolerance = max(0, int64(time.Second)-l.limit.interval)
	}
	return l
}

func newFaultState(fc FaultConfig) *faultState {
	st := &faultState{cfg: fc, global: newLayer(fc.Global), active: fc.Active()}
	if len(fc.Channels) > 0 {
		st.channels = make(map[telemetry.ChannelID]*layer, len(fc.Channels))
		for id, f := range fc.Channels {
			st.channels[id] = newLayer(f)
		}
	}
	return st
}

// gcra is a lock-free GCRA limiter (a token bucket without a timer): tat is
// the theoretical arrival time of the next conforming request, in clock ns.
// It reads time from the simulator's clock, so a fake clock drives it.
type gcra struct {
	tat       atomic.Int64
	interval  int64 // ns per request; 0 = no limit
	tolerance int64 // ns: how far ahead of now tat may run (the burst)
}

// allow admits a request at now or returns how long until one would be.
func (g *gcra) allow(now int64) (bool, time.Duration) {
	if g.interval == 0 {
		return true, 0
	}
	for {
		tat := g.tat.Load()
		t := max(tat, now)
		if ahead := t - now; ahead > g.tolerance {
			return false, time.Duration(ahead - g.tolerance)
		}
		if g.tat.CompareAndSwap(tat, t+g.interval) {
			return true, 0
		}
	}
}

// lockedRand makes the seeded error-rate draws safe for concurrent use. Only
// requests to a layer with an error rate strictly between 0 and 1 take it.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (l *lockedRand) float64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64()
}

// verdict is what the faults decide for one request.
type verdict struct {
	status int           // 0: answer normally
	retry  time.Duration // for 429 and 503
	delay  time.Duration // to sleep before answering (not for 429 and 503)
}

// judge applies the faults to a request for c arriving at now. It holds no
// lock while the caller sleeps out the delay.
func (s *Simulator) judge(c *channel, now time.Time) verdict {
	st := s.faults.Load()
	if !st.active {
		return verdict{}
	}
	layers := [2]*layer{st.global, st.channels[c.spec.ID]}
	for _, l := range layers {
		if l == nil {
			continue
		}
		for _, w := range l.Outages {
			if w.contains(now) {
				return verdict{status: 503, retry: w.End.Sub(now)}
			}
		}
	}
	ns := unixNano(now)
	for _, l := range layers {
		if l == nil {
			continue
		}
		if ok, retry := l.limit.allow(ns); !ok {
			return verdict{status: 429, retry: retry}
		}
	}
	var v verdict
	for _, l := range layers {
		if l == nil {
			continue
		}
		v.delay += l.Latency
		if l.LatencyJitter > 0 {
			v.delay += rand.N(l.LatencyJitter) // jitter needs no reproducibility: runtime source, no lock
		}
		if v.status == 0 && l.ErrorRate > 0 && (l.ErrorRate >= 1 || s.draws.float64() < l.ErrorRate) {
			v.status = 500
		}
	}
	return v
}

// The JSON form of a FaultConfig:
//
//	{"global":{"latency":"200ms","latency_jitter":"50ms","error_rate":0.1,"rate_limit":20,
//	  "outages":[{"start":"2026-03-01T10:00:00Z","end":"2026-03-01T10:05:00Z"},{"in":"5s","for":"30s"}]},
//	 "channels":{"2000001":{...}}}
type configJSON struct {
	Global   faultsJSON                         `json:"global"`
	Channels map[telemetry.ChannelID]faultsJSON `json:"channels,omitempty"`
}

type faultsJSON struct {
	Latency       string       `json:"latency,omitempty"`
	LatencyJitter string       `json:"latency_jitter,omitempty"`
	ErrorRate     float64      `json:"error_rate,omitempty"`
	RateLimit     float64      `json:"rate_limit,omitempty"`
	Outages       []windowJSON `json:"outages,omitempty"`
}

// windowJSON is either absolute (start, end) or relative to the moment the
// config is applied (in, for).
type windowJSON struct {
	Start *time.Time `json:"start,omitempty"`
	End   *time.Time `json:"end,omitempty"`
	In    string     `json:"in,omitempty"`
	For   string     `json:"for,omitempty"`
}

// MarshalJSON writes the documented JSON form, with absolute windows.
func (fc FaultConfig) MarshalJSON() ([]byte, error) {
	out := configJSON{Global: toJSON(fc.Global)}
	if len(fc.Channels) > 0 {
		out.Channels = make(map[telemetry.ChannelID]faultsJSON, len(fc.Channels))
		for id, f := range fc.Channels {
			out.Channels[id] = toJSON(f)
		}
	}
	return json.Marshal(out)
}

func toJSON(f Faults) faultsJSON {
	j := faultsJSON{ErrorRate: f.ErrorRate, RateLimit: f.RateLimit}
	if f.Latency != 0 {
		j.Latency = f.Latency.String()
	}
	if f.LatencyJitter != 0 {
		j.LatencyJitter = f.LatencyJitter.String()
	}
	for _, w := range f.Outages {
		j.Outages = append(j.Outages, windowJSON{Start: &w.Start, End: &w.End})
	}
	return j
}

// ParseFaults parses the JSON form of a FaultConfig strictly: unknown
// fields, trailing data and malformed values are errors. Relative windows
// ({"in","for"}) are resolved against time.Now; the simulator's own POST
// handler uses its clock (ParseFaultsAt). Values are validated as SetFaults
// does, except that channel ids are not checked against a simulator.
func ParseFaults(data []byte) (FaultConfig, error) { return ParseFaultsAt(data, time.Now()) }

// ParseFaultsAt is ParseFaults with relative windows resolved against now.
func ParseFaultsAt(data []byte, now time.Time) (FaultConfig, error) {
	var in configJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return FaultConfig{}, fmt.Errorf("sim: faults: %w: %w", telemetry.ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return FaultConfig{}, fmt.Errorf("sim: faults: %w: data after the JSON object", telemetry.ErrInvalid)
	}
	var fc FaultConfig
	var err error
	var errs []error
	if fc.Global, err = in.Global.faults(now); err != nil {
		errs = append(errs, fmt.Errorf("global: %w", err))
	}
	if len(in.Channels) > 0 {
		fc.Channels = make(map[telemetry.ChannelID]Faults, len(in.Channels))
	}
	for _, id := range slices.Sorted(maps.Keys(in.Channels)) {
		f, err := in.Channels[id].faults(now)
		if err != nil {
			errs = append(errs, fmt.Errorf("channel %d: %w", id, err))
		}
		fc.Channels[id] = f
	}
	if err := errors.Join(errs...); err != nil {
		return FaultConfig{}, fmt.Errorf("sim: faults: %w: %w", telemetry.ErrInvalid, err)
	}
	return fc, nil
}

func (j faultsJSON) faults(now time.Time) (Faults, error) {
	var f Faults
	var errs []error
	f.Latency, errs = parseDuration("latency", j.Latency, errs)
	f.LatencyJitter, errs = parseDuration("latency_jitter", j.LatencyJitter, errs)
	f.ErrorRate, f.RateLimit = j.ErrorRate, j.RateLimit
	for _, w := range j.Outages {
		win, err := w.window(now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f.Outages = append(f.Outages, win)
	}
	errs = append(errs, f.validate())
	return f, errors.Join(errs...)
}

func (w windowJSON) window(now time.Time) (Window, error) {
	relative := w.In != "" || w.For != ""
	switch {
	case relative && (w.Start != nil || w.End != nil):
		return Window{}, errors.New("outage: give either start and end, or in and for")
	case relative:
		var errs []error
		var in, dur time.Duration
		in, errs = parseDuration("in", w.In, errs)
		dur, errs = parseDuration("for", w.For, errs)
		if dur <= 0 {
			errs = append(errs, errors.New("outage: for must be positive"))
		}
		start := now.Add(in)
		return Window{Start: start, End: start.Add(dur)}, errors.Join(errs...)
	case w.Start == nil || w.End == nil:
		return Window{}, errors.New("outage: start and end are both required")
	}
	return Window{Start: *w.Start, End: *w.End}, nil
}

func parseDuration(name, s string, errs []error) (time.Duration, []error) {
	if s == "" {
		return 0, errs
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return d, errs
}
