package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

const (
	defaultChannels = demoCount
	defaultPeriod   = 15 * time.Second // ThingSpeak's free-plan update interval
	defaultHistory  = 200
	// minPeriod is ThingSpeak's shortest update interval (paid plans). It also
	// keeps created_at strictly increasing after truncation to seconds.
	minPeriod = time.Second
	// maxSpan bounds History·Period so that nanosecond arithmetic on entry
	// times stays far from overflow.
	maxSpan = 100 * 365 * 24 * time.Hour
	// Start must lie within these years, for the same reason.
	minYear, maxYear = 1970, 2099
)

// Options configures a Simulator. The zero value is a working demo: the
// twelve DemoSpecs channels of seed 0, an entry every 15 s, 200 entries of
// history, real time.
type Options struct {
	// Channels is the number of generated channels when Specs is empty
	// (default 12). The first twelve are DemoSpecs(Seed), in that order.
	Channels int
	// Specs lists explicit channels. When set, Channels must be 0 or len(Specs).
	Specs []ChannelSpec
	// Period is the time between two entries of a channel (default 15s, at
	// least 1s).
	Period time.Duration
	// History is the number of entries each channel has at Start (default 200).
	History int
	// Seed decides channels, keys, data and error-rate draws.
	Seed uint64
	// Start anchors entry History (default: Now() at New, truncated to the second).
	Start time.Time
	// Now is the clock (default time.Now); tests inject a fake one.
	Now func() time.Time
	// Faults are applied at New, as SetFaults would.
	Faults FaultConfig
	// Overrides are applied at New, as SetOverrides would.
	Overrides []Override
	// Logger receives the HTTP server's own errors (default: discarded).
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.Channels < 0 {
		errs = append(errs, errors.New("channels must be ≥ 0"))
	}
	if o.Period < 0 || (o.Period > 0 && o.Period < minPeriod) {
		errs = append(errs, fmt.Errorf("period %v: must be at least %v", o.Period, minPeriod))
	}
	if o.History < 0 {
		errs = append(errs, errors.New("history must be ≥ 0"))
	}
	if len(o.Specs) > 0 && o.Channels != 0 && o.Channels != len(o.Specs) {
		errs = append(errs, fmt.Errorf("channels is %d but %d specs are given", o.Channels, len(o.Specs)))
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("sim: %w: %w", telemetry.ErrInvalid, errors.Join(errs...))
	}
	if o.Channels == 0 {
		o.Channels = defaultChannels
	}
	if o.Period == 0 {
		o.Period = defaultPeriod
	}
	if o.History == 0 {
		o.History = defaultHistory
	}
	if float64(o.History)*float64(o.Period) > float64(maxSpan) {
		return o, fmt.Errorf("sim: history of %d entries every %v spans more than %v: %w",
			o.History, o.Period, maxSpan, telemetry.ErrInvalid)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Start.IsZero() {
		o.Start = o.Now().Truncate(time.Second)
	}
	if y := o.Start.Year(); y < minYear || y > maxYear {
		return o, fmt.Errorf("sim: start %v: must be within the years %d–%d: %w", o.Start, minYear, maxYear, telemetry.ErrInvalid)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(o.Specs) == 0 {
		o.Specs = generateSpecs(o.Seed, o.Channels)
	}
	return o, nil
}

// Simulator serves the ThingSpeak read API for a fixed set of channels. It is
// safe for concurrent use; see the package documentation.
type Simulator struct {
	seed    uint64
	period  int64 // ns
	history int64
	start   time.Time
	now     func() time.Time
	logger  *slog.Logger

	// chans and index are built by New and never written again, so the
	// request path reads them without locks.
	chans []channel
	index map[telemetry.ChannelID]int

	faults   atomic.Pointer[faultState]
	draws    lockedRand // error-rate draws
	counters counters
	bufs     sync.Pool // *[]byte response buffers
	jsonType []string  // shared Content-Type header value; never mutated

	// overrides is replaced whole, never changed in place, so requests read
	// it with one atomic load; overridesMu serialises the writers
	// (AddOverride reads, extends and stores it).
	overrides   atomic.Pointer[overrideState]
	overridesMu sync.Mutex
}

// New builds a Simulator. It rejects negative or inconsistent options,
// invalid specs (non-positive or duplicate ids, empty keys, unknown kinds),
// invalid faults and invalid overrides; every error wraps telemetry.ErrInvalid.
func New(opts Options) (*Simulator, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Simulator{
		seed:     o.Seed,
		period:   int64(o.Period),
		history:  int64(o.History),
		start:    o.Start,
		now:      o.Now,
		logger:   o.Logger,
		chans:    make([]channel, len(o.Specs)),
		index:    make(map[telemetry.ChannelID]int, len(o.Specs)),
		draws:    lockedRand{r: rand.New(rand.NewPCG(o.Seed, o.Seed^golden))},
		jsonType: []string{"application/json; charset=utf-8"},
	}
	for i, sp := range o.Specs {
		if err := sp.validate(); err != nil {
			return nil, err
		}
		if _, dup := s.index[sp.ID]; dup {
			return nil, fmt.Errorf("sim: duplicate channel id %d: %w", sp.ID, telemetry.ErrInvalid)
		}
		s.index[sp.ID] = i
		s.chans[i].init(s, sp)
	}
	if err := s.SetFaults(o.Faults); err != nil {
		return nil, err
	}
	if err := s.SetOverrides(o.Overrides); err != nil {
		return nil, err
	}
	return s, nil
}

// Channels returns the channels, in the order given or generated, with
// derived values (Height) filled in.
func (s *Simulator) Channels() []ChannelSpec {
	specs := make([]ChannelSpec, len(s.chans))
	for i := range s.chans {
		specs[i] = s.chans[i].spec
	}
	return specs
}

func (s *Simulator) channel(id telemetry.ChannelID) *channel {
	i, ok := s.index[id]
	if !ok {
		return nil
	}
	return &s.chans[i]
}

// LastEntryID returns the channel's newest entry id at Now(), or 0 for an
// unknown channel.
func (s *Simulator) LastEntryID(id telemetry.ChannelID) int64 {
	c := s.channel(id)
	if c == nil {
		return 0
	}
	return s.lastEntry(c, s.now().UnixNano())
}

// Entries returns the entries with ids in [from, to] that exist at Now(),
// exactly as the HTTP API serves them, overrides included (each field is the
// parse of the served string; null and "" are not Valid). It allocates all of them at once, so
// callers ask for ranges of a sensible size. Unknown channels give nil.
func (s *Simulator) Entries(id telemetry.ChannelID, from, to int64) []telemetry.Entry {
	c := s.channel(id)
	if c == nil {
		return nil
	}
	from, to = max(from, 1), min(to, s.lastEntry(c, s.now().UnixNano()))
	if from > to {
		return nil
	}
	out := make([]telemetry.Entry, 0, to-from+1)
	rules := s.overrideRules(id)
	var scratch [32]byte
	for k := from; k <= to; k++ {
		sec := s.createdAt(c, k)
		e := telemetry.Entry{EntryID: k, CreatedAt: time.Unix(sec, 0).UTC()}
		vals := c.sig.values(k, sec)
		if rules != nil {
			applyOverrides(&vals, rules, sec)
		}
		for i, v := range vals {
			e.Fields[i] = v.parse(scratch[:0])
		}
		out = append(out, e)
	}
	return out
}

// Entry k of a channel is stamped at base + (k-History-1)·Period, truncated
// to the second, where base is Start plus a phase in [1s, Period]: entry
// History falls within the Period up to Start (so it is the newest at
// Start) and the next one within the Period after. Times are
// nanoseconds since the epoch; user-supplied times are clamped to ±satNs so
// the arithmetic below cannot overflow.
const (
	nsPerSec = int64(time.Second)
	satNs    = int64(1) << 62 // about year 2116
)

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// createdAt returns entry k's created_at in unix seconds.
func (s *Simulator) createdAt(c *channel, k int64) int64 {
	return floorDiv(c.base+(k-s.history-1)*s.period, nsPerSec)
}

// lastAtOrBefore returns the largest k whose created_at ≤ t: created_at ≤ t
// exactly when the untruncated time is before the second after floor(t).
func (s *Simulator) lastAtOrBefore(c *channel, t int64) int64 {
	limit := (floorDiv(t, nsPerSec) + 1) * nsPerSec
	return floorDiv(limit-c.base-1, s.period) + s.history + 1
}

// firstAtOrAfter returns the smallest k whose created_at ≥ t: created_at ≥ t
// exactly when the untruncated time is at or after ceil(t) to the second.
func (s *Simulator) firstAtOrAfter(c *channel, t int64) int64 {
	limit := ceilDiv(t, nsPerSec) * nsPerSec
	return ceilDiv(limit-c.base, s.period) + s.history + 1
}

// lastEntry is the channel's newest entry id at now (ns): never below History.
func (s *Simulator) lastEntry(c *channel, now int64) int64 {
	return max(s.history, s.lastAtOrBefore(c, clampNs(now)))
}

// clampNs keeps a time in ns within ±satNs.
func clampNs(ns int64) int64 { return min(satNs, max(-satNs, ns)) }

// unixNano is t in ns, saturated at ±satNs instead of overflowing.
func unixNano(t time.Time) int64 {
	if sec := t.Unix(); sec <= -satNs/nsPerSec {
		return -satNs
	} else if sec >= satNs/nsPerSec {
		return satNs
	}
	return t.UnixNano()
}
