package sim

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// Kind is what a channel measures; it decides its fields and signals.
type Kind string

// The kinds of channel the simulator generates.
const (
	KindTank     Kind = "tank"     // overhead tank (OHT)
	KindSump     Kind = "sump"     // underground sump
	KindBorewell Kind = "borewell" // borewell with a pump
	KindFlow     Kind = "flow"     // flow meter
	KindQuality  Kind = "quality"  // water-quality sensor
)

func (k Kind) valid() bool {
	switch k {
	case KindTank, KindSump, KindBorewell, KindFlow, KindQuality:
		return true
	}
	return false
}

// fieldNames are the channel's field1.. names, as ThingSpeak reports them in
// the channel object.
func (k Kind) fieldNames() []string {
	switch k {
	case KindTank, KindSump:
		return []string{"Water Level", "Temperature", "TDS"}
	case KindBorewell:
		return []string{"Water Depth", "Pump Status", "Temperature"}
	case KindFlow:
		return []string{"Flow Rate", "Total Volume", "Pressure"}
	case KindQuality:
		return []string{"TDS", "pH", "Turbidity", "Temperature"}
	}
	return nil
}

// ChannelSpec describes one simulated channel.
type ChannelSpec struct {
	ID        telemetry.ChannelID
	ReadKey   string
	Name      string
	Kind      Kind
	Latitude  float64
	Longitude float64
	// Height is the water level of a full tank or sump in whole cm, the top
	// of field1's range. 0 lets New derive one from the seed; Channels
	// reports the value in use. Other kinds leave it 0.
	Height float64
}

func (sp ChannelSpec) validate() error {
	switch {
	case sp.ID <= 0:
		return fmt.Errorf("sim: channel id %d: must be positive: %w", sp.ID, telemetry.ErrInvalid)
	case sp.ReadKey == "":
		return fmt.Errorf("sim: channel %d: empty read key: %w", sp.ID, telemetry.ErrInvalid)
	case !sp.Kind.valid():
		return fmt.Errorf("sim: channel %d: unknown kind %q: %w", sp.ID, sp.Kind, telemetry.ErrInvalid)
	case !(sp.Latitude >= -90 && sp.Latitude <= 90) || !(sp.Longitude >= -180 && sp.Longitude <= 180):
		return fmt.Errorf("sim: channel %d: coordinates out of range: %w", sp.ID, telemetry.ErrInvalid)
	case !(sp.Height >= 0) || math.IsInf(sp.Height, 0):
		return fmt.Errorf("sim: channel %d: height must be ≥ 0: %w", sp.ID, telemetry.ErrInvalid)
	case sp.Height > 0 && sp.Kind != KindTank && sp.Kind != KindSump:
		return fmt.Errorf("sim: channel %d: height is for tanks and sumps only: %w", sp.ID, telemetry.ErrInvalid)
	}
	return nil
}

const (
	firstChannelID = 2000001 // seven digits, like today's ThingSpeak channel ids
	demoCount      = 12
	keyLength      = 16
	keyAlphabet    = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	hyderabadLat   = 17.385
	hyderabadLon   = 78.4867
)

// demo is one entry of the fixed demo estate. The order mixes kinds so that
// the first five channels already cover every kind.
type demo struct {
	kind Kind
	name string
}

func demoEstate() [demoCount]demo {
	return [demoCount]demo{
		{KindTank, "Block A OHT"},
		{KindSump, "Main Sump"},
		{KindBorewell, "Borewell North"},
		{KindFlow, "Main Inlet Flow Meter"},
		{KindQuality, "RO Plant Water Quality"},
		{KindTank, "Block B OHT"},
		{KindTank, "Block C OHT"},
		{KindSump, "Block C Sump"},
		{KindTank, "Block D OHT"},
		{KindBorewell, "Borewell South"},
		{KindTank, "Block E OHT"},
		{KindTank, "Block F OHT"},
	}
}

// DemoSpecs returns the demo estate of a gated community in Hyderabad: six
// overhead tanks, two sumps, two borewells, a flow meter and a water-quality
// sensor, with ids 2000001…2000012 and read keys derived from seed.
func DemoSpecs(seed uint64) []ChannelSpec {
	return generateSpecs(seed, demoCount)
}

// generateSpecs returns the first n default channels: the demo estate, then
// a deterministic mix dominated by tanks, as a large estate would be.
func generateSpecs(seed uint64, n int) []ChannelSpec {
	estate := demoEstate()
	specs := make([]ChannelSpec, n)
	for i := range specs {
		var d demo
		if i < demoCount {
			d = estate[i]
		} else {
			d = extraChannel(seed, i)
		}
		specs[i] = specFor(seed, i, d)
	}
	return specs
}

func extraChannel(seed uint64, i int) demo {
	site := "Site " + strconv.Itoa(i+1)
	u := unit(hash3(seed, saltSpecKind, uint64(i)))
	switch {
	case u < 0.55:
		return demo{KindTank, site + " OHT"}
	case u < 0.70:
		return demo{KindSump, site + " Sump"}
	case u < 0.85:
		return demo{KindBorewell, site + " Borewell"}
	case u < 0.93:
		return demo{KindFlow, site + " Flow Meter"}
	}
	return demo{KindQuality, site + " Water Quality"}
}

func specFor(seed uint64, i int, d demo) ChannelSpec {
	p := paramDraws{key: hash3(seed, saltSpec, uint64(i))}
	sp := ChannelSpec{
		ID:        telemetry.ChannelID(firstChannelID + i),
		ReadKey:   readKey(seed, i),
		Name:      d.name,
		Kind:      d.kind,
		Latitude:  round6(hyderabadLat + p.between(-0.06, 0.06)),
		Longitude: round6(hyderabadLon + p.between(-0.06, 0.06)),
	}
	sp.Height = defaultHeight(d.kind, &p)
	return sp
}

// defaultHeight is a plausible full level in whole cm: overhead tanks are
// 1.5–2.5 m tall, sumps 2–3.5 m deep.
func defaultHeight(k Kind, p *paramDraws) float64 {
	switch k {
	case KindTank:
		return math.Round(p.between(150, 250))
	case KindSump:
		return math.Round(p.between(200, 350))
	}
	return 0
}

// readKey derives a ThingSpeak-style key: 16 uppercase alphanumerics.
func readKey(seed uint64, i int) string {
	var b [keyLength]byte
	h := hash3(seed, saltReadKey, uint64(i))
	for j := range b {
		if j == keyLength/2 {
			h = mix64(h) // 36^8 < 2^64: one hash per half keeps the draws uniform enough
		}
		b[j] = keyAlphabet[h%uint64(len(keyAlphabet))]
		h /= uint64(len(keyAlphabet))
	}
	return string(b[:])
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// channel is one row of the read-only channel table, plus its counters.
type channel struct {
	spec ChannelSpec
	base int64 // ns since the epoch: Start plus this channel's phase
	sig  signal
	// head is the feed's JSON up to the value of last_entry_id, built once.
	head []byte
	// requests counts feed and last requests for this channel, rejected ones too.
	requests atomic.Int64
	// recent holds the times (unix ms, the simulator's clock) of the
	// latest recentRequests requests, a ring indexed by requests.
	recent [recentRequests]atomic.Int64
}

// recentRequests is how many request times each channel keeps, so tests
// can check a poller's schedule (gaps between polls) per channel.
const recentRequests = 16

// noteRequest counts a request and remembers its time. Lock-free: a
// snapshot racing with a request may miss that one request's time.
func (c *channel) noteRequest(now time.Time) {
	n := c.requests.Add(1)
	c.recent[(n-1)%recentRequests].Store(now.UnixMilli())
}

// recentTimes returns the remembered request times, oldest first.
func (c *channel) recentTimes() []int64 {
	out := make([]int64, 0, recentRequests)
	for i := range c.recent {
		if t := c.recent[i].Load(); t > 0 {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

func (c *channel) init(s *Simulator, sp ChannelSpec) {
	key := hash3(s.seed, saltChannel, uint64(sp.ID))
	if sp.Height == 0 {
		p := paramDraws{key: hash3(key, saltHeight, 0)}
		sp.Height = defaultHeight(sp.Kind, &p)
	}
	c.spec = sp
	// The phase lies in [1s, Period], so entry History+1 is created at least a
	// second after Start (entry History is the newest at Start) and channels
	// tick at different moments.
	c.base = s.start.UnixNano() + int64(time.Second) + int64(hash3(key, saltPhase, 0)%uint64(s.period-int64(time.Second)+1))
	c.sig = newSignal(sp, key)
	c.head = c.buildHead(s)
}

// buildHead renders the static part of the channel object. created_at is the
// first entry's time and updated_at that of entry History (the simulator's
// start): on ThingSpeak updated_at tracks settings, not data, so it is static.
func (c *channel) buildHead(s *Simulator) []byte {
	name, _ := json.Marshal(c.spec.Name) // a string always marshals
	b := make([]byte, 0, 256)
	b = append(b, `{"channel":{"id":`...)
	b = strconv.AppendInt(b, int64(c.spec.ID), 10)
	b = append(b, `,"name":`...)
	b = append(b, name...)
	b = append(b, `,"latitude":"`...)
	b = strconv.AppendFloat(b, c.spec.Latitude, 'f', -1, 64)
	b = append(b, `","longitude":"`...)
	b = strconv.AppendFloat(b, c.spec.Longitude, 'f', -1, 64)
	b = append(b, '"')
	for i, n := range c.spec.Kind.fieldNames() {
		b = appendFieldKey(b, i)
		b = append(b, '"')
		b = append(b, n...) // plain ASCII names, nothing to escape
		b = append(b, '"')
	}
	b = append(b, `,"created_at":"`...)
	b = appendTimestamp(b, s.createdAt(c, 1))
	b = append(b, `","updated_at":"`...)
	b = appendTimestamp(b, s.createdAt(c, s.history))
	b = append(b, `","last_entry_id":`...)
	return b
}
