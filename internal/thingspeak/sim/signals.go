package sim

import (
	"math"
	"strconv"

	"github.com/evaratech/evara/internal/telemetry"
)

// Every number the simulator makes up is a hash of the seed, the channel and
// what it is for (a salt) — never state carried from one entry to the next —
// so any entry can be computed on its own, in any order, from any goroutine.

// Salts separate the hash streams of different uses.
const (
	saltChannel uint64 = iota + 1
	saltPhase
	saltHeight
	saltSpec
	saltSpecKind
	saltReadKey
	saltParam
	saltCycle
	saltCycleLen
	saltNull
	saltSpike
	saltSpikeAt
	saltNoise // saltNoise+n is field n's noise stream
)

const golden = 0x9e3779b97f4a7c15

// mix64 is splitmix64's finaliser: a bijection with good avalanche.
func mix64(x uint64) uint64 {
	x += golden
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func hash3(key, salt, x uint64) uint64 { return mix64(key ^ mix64(salt^mix64(x))) }

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) * 0x1p-53 }

// noise maps a hash to [-1, 1], bell-shaped (sum of four uniforms), so that
// a bounded amplitude stays bounded.
func noise(h uint64) float64 {
	s := h&0xffff + h>>16&0xffff + h>>32&0xffff + h>>48
	return float64(s)/(2*0xffff) - 1
}

// paramDraws hands out a channel's fixed parameters one draw at a time.
type paramDraws struct {
	key uint64
	n   uint64
}

func (p *paramDraws) between(lo, hi float64) float64 {
	p.n++
	return lo + (hi-lo)*unit(hash3(p.key, saltParam, p.n))
}

const (
	day        = 86400.0
	year       = 365.25 * day
	twoPi      = 2 * math.Pi
	fourPi     = 4 * math.Pi
	swingWidth = day / fourPi // antiderivative scale of a twice-daily cosine
	istOffset  = 5.5 * 3600   // Hyderabad local time (UTC+5:30): use follows local habits
	usagePeak  = 7.5 * 3600   // local time of the morning peak; the evening one is 12 h later
	warmestAt  = 15 * 3600    // local time of the daily temperature maximum
	meterEpoch = 1704067200.0 // 2024-01-01T00:00:00Z: flow totalisers count from here
	spikeEvery = 6 * 3600     // turbidity: at most one spike per window of this length
	spikeDecay = 45 * 60      // turbidity: e-folding time of a spike, s
	tdsNullPer = 1000         // tank field3 is null when hash%1000 < tdsNulls (1 in 200)
	tdsNulls   = 5            // and "" for the next tdsEmpties values (1 in 500)
	tdsEmpties = 2
)

// twiceDailyPhase is the phase whose cosine peaks at usagePeak and 12 h later.
func twiceDailyPhase(t float64) float64 { return fourPi * (t + istOffset - usagePeak) / day }

// valueKind says how a field appears in the JSON entry object.
type valueKind uint8

const (
	fieldAbsent valueKind = iota
	fieldNumber
	fieldNull
	fieldEmpty
)

// value is one field as served: a number with its decimals, null, "" or absent.
type value struct {
	v    float64
	dec  int
	kind valueKind
}

func num(v float64, dec int) value {
	if v == 0 {
		v = 0 // no "-0"
	}
	return value{v: v, dec: dec, kind: fieldNumber}
}

// parse returns the field as a client parsing the served string would see it.
func (v value) parse(scratch []byte) telemetry.Field {
	if v.kind != fieldNumber {
		return telemetry.Field{}
	}
	f, err := strconv.ParseFloat(string(v.appendText(scratch)), 64)
	return telemetry.Field{Value: f, Valid: err == nil}
}

// appendText appends the number as the feed serves it, without the quotes.
func (v value) appendText(b []byte) []byte { return strconv.AppendFloat(b, v.v, 'f', v.dec, 64) }

// signal holds a channel's fixed signal parameters; only the models of its
// kind are set.
type signal struct {
	kind  Kind
	key   uint64
	level tankModel
	bore  boreModel
	flow  flowModel
	temp  tempModel
	tds   driftModel
	ph    driftModel
	turb  turbidityModel
}

func newSignal(sp ChannelSpec, key uint64) signal {
	p := paramDraws{key: key}
	g := signal{kind: sp.Kind, key: key}
	switch sp.Kind {
	case KindTank, KindSump:
		g.level = newTankModel(sp.Kind, sp.Height, key, &p)
		g.temp = tempModel{mean: p.between(24, 30), amp: p.between(2, 5), noise: 0.15}
		g.tds = newDrift(&p, 200, 380, 15, 45, 150, 450, 4)
	case KindBorewell:
		g.bore = newBoreModel(key, &p)
		g.temp = tempModel{mean: p.between(26, 29), amp: p.between(0.2, 0.5), noise: 0.08}
	case KindFlow:
		g.flow = flowModel{q0: p.between(20, 120), swing: p.between(0.4, 0.8),
			v0: p.between(1e5, 1e6), p0: p.between(1.8, 3.0)}
	case KindQuality:
		g.tds = newDrift(&p, 90, 300, 10, 30, 30, 600, 3)
		g.ph = driftModel{base: p.between(6.9, 7.6), amp: p.between(0.1, 0.3),
			period: p.between(1, 4) * day, phase: p.between(0, twoPi), noise: 0.04, lo: 6, hi: 9}
		g.turb = turbidityModel{key: key, base: p.between(0.2, 0.9)}
		g.temp = tempModel{mean: p.between(24, 30), amp: p.between(1, 3), noise: 0.1}
	}
	return g
}

// values computes entry k, created at unix second sec. Decimals follow what
// the devices send: whole cm and ppm, hundredths elsewhere.
func (g *signal) values(k, sec int64) (out [telemetry.FieldCount]value) {
	t := float64(sec)
	n := func(field uint64) float64 { return noise(hash3(g.key, saltNoise+field, uint64(k))) }
	switch g.kind {
	case KindTank, KindSump:
		out[0] = num(g.level.reading(t, n(1)), 0)
		out[1] = num(g.temp.at(t, n(2)), 2)
		out[2] = num(g.tds.at(t, n(3)), 0)
		if g.kind == KindTank {
			out[2] = g.maybeMissing(k, out[2])
		}
	case KindBorewell:
		depth, on := g.bore.at(t)
		out[0] = num(depth+0.05*n(1), 2)
		out[1] = num(b2f(on), 0)
		out[2] = num(g.temp.at(t, n(3)), 2)
	case KindFlow:
		q := g.flow.rate(t)
		out[0] = num(max(0, q*(1+0.04*n(1))), 2)
		out[1] = num(g.flow.volume(t), 1)
		out[2] = num(g.flow.p0-0.6*(q/g.flow.q0-1)+0.03*n(3), 2)
	case KindQuality:
		out[0] = num(g.tds.at(t, n(1)), 0)
		out[1] = num(g.ph.at(t, n(2)), 2)
		out[2] = num(g.turb.at(t, n(3)), 2)
		out[3] = num(g.temp.at(t, n(4)), 2)
	}
	return out
}

// maybeMissing turns a hash-chosen few values into null or "", as flaky
// devices do, so clients meet both on a healthy channel.
func (g *signal) maybeMissing(k int64, v value) value {
	switch r := hash3(g.key, saltNull, uint64(k)) % tdsNullPer; {
	case r < tdsNulls:
		return value{kind: fieldNull}
	case r < tdsNulls+tdsEmpties:
		return value{kind: fieldEmpty}
	}
	return v
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// cycles splits time into pump cycles of hash-chosen length: cycle j starts
// at j·grid + offset + a hash-chosen delay below jitter·grid, so the cycle
// holding any moment is found in O(1) and lengths vary by ±jitter.
type cycles struct {
	grid, offset, jitter float64
	key                  uint64
}

func (c *cycles) start(j int64) float64 {
	return float64(j)*c.grid + c.offset + c.jitter*c.grid*unit(hash3(c.key, saltCycle, uint64(j)))
}

// draw is a hash-chosen number in [0, 1) belonging to cycle j.
func (c *cycles) draw(j int64) float64 { return unit(hash3(c.key, saltCycleLen, uint64(j))) }

// locate returns the cycle holding t and its start.
func (c *cycles) locate(t float64) (int64, float64) {
	j := int64(math.Floor((t - c.offset) / c.grid))
	s := c.start(j)
	if t < s {
		j--
		s = c.start(j)
	}
	return j, s
}

// tankModel: each cycle starts with a pump run that fills the tank linearly
// from wherever the previous cycle left it to full, then the level falls by
// the integral of a use rate that peaks twice a day, down to a dead-stock
// floor. Fill runs stay shorter than the shortest cycle.
type tankModel struct {
	cyc           cycles
	height, floor float64 // cm
	rate          float64 // mean use, cm/s
	swing         float64 // relative amplitude of the daily use pattern, < 1
	fill          float64 // mean fill duration, s
	noise         float64 // sensor noise amplitude, cm
}

func newTankModel(k Kind, height float64, key uint64, p *paramDraws) tankModel {
	grid, fillFrac := p.between(3, 8)*3600, p.between(0.08, 0.15) // overhead tanks: a few pump runs a day
	if k == KindSump {
		grid, fillFrac = p.between(10, 24)*3600, p.between(0.10, 0.20) // sumps: one municipal supply a day or so
	}
	return tankModel{
		cyc:    cycles{grid: grid, offset: p.between(0, grid), jitter: 0.5, key: key},
		height: height,
		floor:  math.Round(height * p.between(0.03, 0.08)),
		rate:   height * p.between(0.45, 0.8) / grid,
		swing:  p.between(0.5, 0.8),
		fill:   grid * fillFrac, // ≤ 0.2·1.4 grid < the shortest cycle, 0.5 grid
		noise:  1,
	}
}

// used is an antiderivative of the use rate rate·(1 + swing·cos(phase)).
func (m *tankModel) used(t float64) float64 {
	return m.rate * (t + m.swing*swingWidth*math.Sin(twiceDailyPhase(t)))
}

func (m *tankModel) fillDuration(j int64) float64 { return m.fill * (0.6 + 0.8*m.cyc.draw(j)) }

// drained is the level at t of a tank that was full at time full.
func (m *tankModel) drained(full, t float64) float64 {
	return max(m.floor, m.height-(m.used(t)-m.used(full)))
}

func (m *tankModel) level(t float64) float64 {
	j, s := m.cyc.locate(t)
	f := m.fillDuration(j)
	if t >= s+f {
		return m.drained(s+f, t)
	}
	low := m.drained(m.cyc.start(j-1)+m.fillDuration(j-1), s)
	return low + (m.height-low)*(t-s)/f
}

// reading adds sensor noise and keeps the served whole-cm value within
// [0, height] even when height is not whole.
func (m *tankModel) reading(t, n float64) float64 {
	return math.Round(min(math.Floor(m.height), max(0, m.level(t)+m.noise*n)))
}

// boreModel: the pump runs for the first part of each cycle; the depth to
// water drops towards static+maxDraw while it runs and recovers
// exponentially after, on top of a slow seasonal change of the static level.
type boreModel struct {
	cyc              cycles
	onFrac           float64 // mean share of a cycle the pump runs
	static, seasonal float64 // m
	season           float64 // phase of the seasonal change
	maxDraw          float64 // m
	tauPump, tauRest float64 // s
}

func newBoreModel(key uint64, p *paramDraws) boreModel {
	grid := p.between(2, 6) * 3600
	return boreModel{
		cyc:      cycles{grid: grid, offset: p.between(0, grid), jitter: 0.3, key: key},
		onFrac:   p.between(0.2, 0.5), // ≤ 0.5·1.3 < 0.7, the shortest cycle
		static:   p.between(25, 90),
		seasonal: p.between(1, 3),
		season:   p.between(0, twoPi),
		maxDraw:  p.between(4, 15),
		tauPump:  p.between(15, 45) * 60,
		tauRest:  p.between(30, 90) * 60,
	}
}

func (m *boreModel) onDuration(j int64) float64 {
	return m.cyc.grid * m.onFrac * (0.7 + 0.6*m.cyc.draw(j))
}

func (m *boreModel) drawdown(on float64) float64 { return m.maxDraw * (1 - math.Exp(-on/m.tauPump)) }

// at returns the depth to water below ground and whether the pump runs. The
// previous cycle's leftover drawdown is carried one cycle deep, which hides
// the seam at cycle starts well below the sensor noise.
func (m *boreModel) at(t float64) (float64, bool) {
	j, s := m.cyc.locate(t)
	static := m.static + m.seasonal*math.Sin(twoPi*t/year+m.season)
	prevOn := m.onDuration(j - 1)
	prevEnd := m.cyc.start(j-1) + prevOn
	carry := m.drawdown(prevOn) * math.Exp(-(s-prevEnd)/m.tauRest)
	on, tau := m.onDuration(j), t-s
	if tau < on {
		return static + carry*math.Exp(-tau/m.tauRest) + m.drawdown(tau), true
	}
	atStop := carry*math.Exp(-on/m.tauRest) + m.drawdown(on)
	return static + atStop*math.Exp(-(tau-on)/m.tauRest), false
}

// flowModel: a rate that peaks twice a day and never stops (swing < 1), and a
// totaliser that is its exact integral, so the volume never decreases.
type flowModel struct {
	q0, swing float64 // L/min
	v0        float64 // L at meterEpoch
	p0        float64 // bar at the mean rate
}

func (m *flowModel) rate(t float64) float64 {
	return m.q0 * (1 + m.swing*math.Cos(twiceDailyPhase(t)))
}

func (m *flowModel) volume(t float64) float64 {
	return max(0, m.v0+m.q0/60*((t-meterEpoch)+m.swing*swingWidth*math.Sin(twiceDailyPhase(t))))
}

// tempModel: a daily sinusoid peaking mid-afternoon, plus noise.
type tempModel struct{ mean, amp, noise float64 }

func (m *tempModel) at(t, n float64) float64 {
	return m.mean + m.amp*math.Cos(twoPi*(t+istOffset-warmestAt)/day) + m.noise*n
}

// driftModel: a slow sinusoidal drift over days, plus noise, within [lo, hi].
type driftModel struct{ base, amp, period, phase, noise, lo, hi float64 }

func newDrift(p *paramDraws, baseLo, baseHi, ampLo, ampHi, lo, hi, noise float64) driftModel {
	return driftModel{base: p.between(baseLo, baseHi), amp: p.between(ampLo, ampHi),
		period: p.between(3, 10) * day, phase: p.between(0, twoPi), noise: noise, lo: lo, hi: hi}
}

func (m *driftModel) at(t, n float64) float64 {
	return min(m.hi, max(m.lo, m.base+m.amp*math.Sin(twoPi*t/m.period+m.phase)+m.noise*n))
}

// turbidityModel: a low base with occasional spikes (a pipe disturbed, a
// tank cleaned) that decay over the next hours.
type turbidityModel struct {
	key  uint64
	base float64
}

func (m *turbidityModel) at(t, n float64) float64 {
	v := m.base + 0.05*n
	w := int64(math.Floor(t / spikeEvery))
	for _, win := range [2]int64{w - 1, w} { // a spike fades within one window
		if unit(hash3(m.key, saltSpike, uint64(win))) >= 0.15 {
			continue
		}
		h := hash3(m.key, saltSpikeAt, uint64(win))
		at := float64(win)*spikeEvery + unit(h)*spikeEvery/2
		if t >= at {
			v += (2 + 6*unit(mix64(h))) * math.Exp(-(t-at)/spikeDecay)
		}
	}
	return max(0.05, v)
}
