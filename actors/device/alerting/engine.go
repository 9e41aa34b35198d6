package alerting

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// Options configures an Engine. Node is required; zero fields of the rest
// take the defaults of issue 7.
type Options struct {
	Node telemetry.NodeID
	// Rules are the node's alert rules; disabled ones (and rules of other
	// nodes) are ignored.
	Rules []telemetry.AlertRule
	// Open are the node's unresolved alerts, from the store's OpenAlerts.
	Open []telemetry.Alert
	// JudgedThrough is when the node's alerts last changed (the store's
	// LastAlertActivity): readings taken until then were judged already, by
	// a previous incarnation of the device. Observe feeds them to the
	// anomaly windows but opens and resolves nothing for them, so that a
	// device that restarts or moves and fetches again readings its
	// predecessor had judged (they were not stored yet when it died)
	// neither resolves an alert the predecessor opened nor opens a second
	// one. Zero: every reading is judged.
	JudgedThrough time.Time
	// Now is the clock of cooldowns (default time.Now).
	Now func() time.Time
	// AnomalyWindow is how many recent values of a metric make its
	// baseline (default 100); AnomalyMinSamples how many it needs before
	// it judges a value (default 20); AnomalyZ the |z| above which a value
	// is an anomaly (default 3).
	AnomalyWindow     int
	AnomalyMinSamples int
	AnomalyZ          float64
	// NoAnomalies turns anomaly detection off: only rules and the offline
	// alert remain.
	NoAnomalies bool
}

// Engine is the alert state of one node. It is not safe for concurrent
// use: its owner (the device actor) calls it from Receive only.
type Engine struct {
	node  telemetry.NodeID
	now   func() time.Time
	rules []telemetry.AlertRule // enabled, in the order given
	// open holds the severity of every open cause.
	open map[Cause]telemetry.Severity
	// judgedThrough: readings taken until then only teach the anomaly windows.
	judgedThrough time.Time
	// triggered is when each rule last opened an alert (on e.now), for
	// its cooldown; kept across SetRules so that an updated rule keeps it.
	triggered map[string]time.Time

	window, minSamples int
	z                  float64
	noAnomalies        bool
	series             []*series // sorted by metric
	byMetric           map[string]*series
	// actions collects the result of the current call; it starts nil, so
	// a call that changes nothing allocates nothing, and each result is a
	// new slice the owner may hand to another goroutine.
	actions []Action
}

// New returns the engine of opts.Node, seeded with the alerts already
// open, and the Resolves of seeded rule alerts whose rule is no longer
// enabled (to be persisted like any other Action).
func New(opts Options) (*Engine, []Action) {
	e := &Engine{
		node: opts.Node, now: opts.Now,
		window: opts.AnomalyWindow, minSamples: opts.AnomalyMinSamples, z: opts.AnomalyZ,
		judgedThrough: opts.JudgedThrough, noAnomalies: opts.NoAnomalies,
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.window <= 0 {
		e.window = 100
	}
	if e.minSamples <= 0 {
		e.minSamples = 20
	}
	e.minSamples = min(e.minSamples, e.window)
	if e.z <= 0 {
		e.z = 3
	}
	e.rules = e.enabled(opts.Rules)
	return e, e.Reseed(opts.Open)
}

// Reseed replaces the engine's open alerts with open (the store's view of
// the node, after a failed persist) and returns the Resolves of those whose
// rule is no longer enabled. Rule alerts seeded this way start their
// rule's cooldown at their trigger time.
func (e *Engine) Reseed(open []telemetry.Alert) []Action {
	e.open = nil // maps are made when first written: an idle engine holds none
	if len(open) > 0 {
		e.open = make(map[Cause]telemetry.Severity, len(open))
	}
	for _, al := range open {
		if al.NodeID != "" && al.NodeID != e.node || al.Status == telemetry.AlertResolved {
			continue
		}
		c := causeOf(al)
		e.open[c] = al.Severity
		if c.Kind == telemetry.AlertKindRule && c.RuleID != "" && al.TriggeredAt.After(e.triggered[c.RuleID]) {
			e.setTriggered(c.RuleID, al.TriggeredAt)
		}
	}
	return e.resolveStale()
}

// SetRules replaces the node's rules (after one was created, updated,
// deleted, enabled or disabled) and returns the Resolves of the open
// alerts whose rule is gone or disabled, or whose metric changed.
func (e *Engine) SetRules(rules []telemetry.AlertRule) []Action {
	e.rules = e.enabled(rules)
	return e.resolveStale()
}

func (e *Engine) enabled(rules []telemetry.AlertRule) []telemetry.AlertRule {
	out := make([]telemetry.AlertRule, 0, len(rules))
	for _, r := range rules {
		if r.Enabled && (r.NodeID == "" || r.NodeID == e.node) {
			out = append(out, r)
		}
	}
	return out
}

// resolveStale resolves the open rule alerts that no enabled rule raises.
func (e *Engine) resolveStale() []Action {
	live := make(map[Cause]bool, len(e.rules))
	for _, r := range e.rules {
		live[ruleCause(r)] = true
	}
	var stale []Cause
	for c := range e.open {
		if c.Kind == telemetry.AlertKindRule && !live[c] {
			stale = append(stale, c)
		}
	}
	slices.SortFunc(stale, compareCauses)
	var out []Action
	for _, c := range stale {
		out = append(out, e.resolve(c))
	}
	return out
}

func ruleCause(r telemetry.AlertRule) Cause {
	return Cause{Kind: telemetry.AlertKindRule, RuleID: r.ID, Metric: r.Metric}
}

// Observe evaluates a new reading, taken at at, whose metrics are named as
// the node's field mapping names them, and returns the alerts to open and
// resolve (nil when nothing changes).
func (e *Engine) Observe(at time.Time, metrics map[string]float64, inMaintenance bool) []Action {
	e.actions = nil
	if !at.After(e.judgedThrough) {
		e.observeAnomalies(at, metrics, inMaintenance, false)
		return nil
	}
	for i := range e.rules {
		r := &e.rules[i]
		v, ok := metrics[r.Metric]
		if !ok || !finite(v) {
			continue
		}
		c := ruleCause(*r)
		_, open := e.open[c]
		holds := r.Condition.Holds(v, r.Threshold)
		switch {
		case holds && !open && !inMaintenance && !e.cooling(r):
			e.setTriggered(r.ID, e.now())
			e.actions = append(e.actions, e.openAlert(c, r.Severity, at, v, &r.Threshold,
				fmt.Sprintf("%s %s %s %s (rule %q)", r.Metric, num(v), r.Condition, num(r.Threshold), r.Name)))
		case !holds && open:
			e.actions = append(e.actions, e.resolve(c))
		}
	}
	e.observeAnomalies(at, metrics, inMaintenance, true)
	return e.actions
}

func (e *Engine) setTriggered(rule string, at time.Time) {
	if e.triggered == nil {
		e.triggered = map[string]time.Time{}
	}
	e.triggered[rule] = at
}

// cooling reports whether r opened an alert less than its cooldown ago.
func (e *Engine) cooling(r *telemetry.AlertRule) bool {
	last, ok := e.triggered[r.ID]
	return ok && r.CooldownMinutes > 0 && e.now().Sub(last) < time.Duration(r.CooldownMinutes)*time.Minute
}

// StatusChanged opens a critical device_offline alert when the node turns
// offline and resolves it when it is back online. In a maintenance window
// nothing opens.
func (e *Engine) StatusChanged(offline bool, at time.Time, inMaintenance bool) []Action {
	e.actions = nil
	c := Cause{Kind: telemetry.AlertKindDeviceOffline}
	_, open := e.open[c]
	switch {
	case offline && !open && !inMaintenance:
		e.actions = append(e.actions, e.openAlert(c, telemetry.SeverityCritical, at, math.NaN(), nil,
			"the device sends no data"))
	case !offline && open:
		e.actions = append(e.actions, e.resolve(c))
	}
	return e.actions
}

// openAlert records c as open and returns its Open action; a NaN value
// leaves the alert's Value unset.
func (e *Engine) openAlert(c Cause, sev telemetry.Severity, at time.Time, value float64, threshold *float64, msg string) Action {
	if e.open == nil {
		e.open = map[Cause]telemetry.Severity{}
	}
	e.open[c] = sev
	al := &telemetry.Alert{NodeID: e.node, Kind: c.Kind, Severity: sev, Status: telemetry.AlertOpen,
		Message: msg, TriggeredAt: at}
	if c.RuleID != "" {
		al.RuleID = &c.RuleID
	}
	if c.Metric != "" {
		al.Metric = &c.Metric
	}
	if !math.IsNaN(value) {
		al.Value = &value
	}
	if threshold != nil {
		t := *threshold
		al.Threshold = &t
	}
	return Action{Open: al}
}

func (e *Engine) resolve(c Cause) Action {
	delete(e.open, c)
	return Action{Resolve: &c}
}

// CriticalOpen reports whether a critical alert is open: the node's status
// is then Alert.
func (e *Engine) CriticalOpen() bool {
	for _, sev := range e.open {
		if sev == telemetry.SeverityCritical {
			return true
		}
	}
	return false
}

// Open returns the open causes, sorted.
func (e *Engine) Open() []Cause {
	out := make([]Cause, 0, len(e.open))
	for c := range e.open {
		out = append(out, c)
	}
	slices.SortFunc(out, compareCauses)
	return out
}

func compareCauses(a, b Cause) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.RuleID, b.RuleID), cmp.Compare(a.Metric, b.Metric))
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func num(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
