package alerting_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/evaratech/evara/actors/device/alerting"
	"github.com/evaratech/evara/internal/telemetry"
)

const node telemetry.NodeID = "0195a000-0000-7000-8000-000000000001"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is the engine's fake wall clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func rule(id, metric string, cond telemetry.Condition, threshold float64, sev telemetry.Severity, cooldown int) telemetry.AlertRule {
	return telemetry.AlertRule{ID: id, NodeID: node, Name: "rule " + id, Metric: metric, Condition: cond,
		Threshold: threshold, Severity: sev, Enabled: true, CooldownMinutes: cooldown}
}

// render writes actions as "open rule r1 level" / "resolve anomaly - level",
// joined by "; " ("" for none).
func render(actions []alerting.Action) string {
	out := make([]string, len(actions))
	for i, a := range actions {
		verb := "resolve"
		if a.Open != nil {
			verb = "open"
		}
		c := a.Cause()
		out[i] = strings.Join([]string{verb, string(c.Kind), or(c.RuleID), or(c.Metric)}, " ")
	}
	return strings.Join(out, "; ")
}

func or(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newEngine(t *testing.T, c *clock, rules []telemetry.AlertRule, open ...telemetry.Alert) *alerting.Engine {
	t.Helper()
	e, actions := alerting.New(alerting.Options{Node: node, Rules: rules, Open: open, Now: c.now})
	if len(actions) != 0 {
		t.Fatalf("New: unexpected actions %s", render(actions))
	}
	return e
}

// step is one reading (or a status change when status is set) and what it
// must do; the clock moves to t0+minute first.
type step struct {
	minute int
	level  float64
	maint  bool
	status string // "offline" or "online": a status change instead of a reading
	want   string
}

func run(t *testing.T, e *alerting.Engine, c *clock, steps []step) {
	t.Helper()
	for i, s := range steps {
		c.t = t0.Add(time.Duration(s.minute) * time.Minute)
		var got []alerting.Action
		if s.status != "" {
			got = e.StatusChanged(s.status == "offline", c.t, s.maint)
		} else {
			got = e.Observe(c.t, map[string]float64{"level": s.level, "flow": 1}, s.maint)
		}
		if r := render(got); r != s.want {
			t.Fatalf("step %d (minute %d, level %v, maintenance %v, status %q): got %q, want %q",
				i, s.minute, s.level, s.maint, s.status, r, s.want)
		}
	}
}

// seq turns values into one step a minute with the given outcomes.
func seq(values []float64, want ...string) []step {
	steps := make([]step, len(values))
	for i, v := range values {
		steps[i] = step{minute: i, level: v, want: want[i]}
	}
	return steps
}

func TestRuleCrossings(t *testing.T) {
	const o, r = "open rule r1 level", "resolve rule r1 level"
	tests := []struct {
		cond   telemetry.Condition
		values []float64
		want   []string
	}{
		{">", []float64{4, 5, 6, 7, 5, 4, 6}, []string{"", "", o, "", r, "", o}},
		{"<", []float64{6, 5, 4, 3, 5, 6, 4}, []string{"", "", o, "", r, "", o}},
		{">=", []float64{4, 5, 6, 4, 3, 5}, []string{"", o, "", r, "", o}},
		{"<=", []float64{6, 5, 4, 6, 7, 5}, []string{"", o, "", r, "", o}},
		{"==", []float64{4, 5, 5, 6, 4, 5}, []string{"", o, "", r, "", o}},
		{"!=", []float64{5, 4, 3, 5, 5, 6}, []string{"", o, "", r, "", o}},
	}
	for _, tt := range tests {
		t.Run(string(tt.cond), func(t *testing.T) {
			c := &clock{t0}
			e := newEngine(t, c, []telemetry.AlertRule{rule("r1", "level", tt.cond, 5, telemetry.SeverityWarning, 0)})
			run(t, e, c, seq(tt.values, tt.want...))
		})
	}
}

func TestOpenAlertCarriesTheCrossing(t *testing.T) {
	c := &clock{t0}
	e := newEngine(t, c, []telemetry.AlertRule{rule("r1", "level", "<", 1.5, telemetry.SeverityCritical, 0)})
	at := t0.Add(time.Hour)
	got := e.Observe(at, map[string]float64{"level": 1.25}, false)
	if len(got) != 1 || got[0].Open == nil {
		t.Fatalf("got %s, want one open", render(got))
	}
	al := got[0].Open
	if al.NodeID != node || al.Kind != telemetry.AlertKindRule || *al.RuleID != "r1" || *al.Metric != "level" ||
		al.Severity != telemetry.SeverityCritical || al.Status != telemetry.AlertOpen || *al.Value != 1.25 ||
		*al.Threshold != 1.5 || !al.TriggeredAt.Equal(at) {
		t.Errorf("alert = %+v", *al)
	}
	if want := `level 1.25 < 1.5 (rule "rule r1")`; al.Message != want {
		t.Errorf("message = %q, want %q", al.Message, want)
	}
	if !e.CriticalOpen() {
		t.Error("a critical rule alert is open but CriticalOpen is false")
	}
	if got := e.Open(); !slices.Equal(got, []alerting.Cause{{Kind: telemetry.AlertKindRule, RuleID: "r1", Metric: "level"}}) {
		t.Errorf("Open() = %v", got)
	}
}

func TestReadingsWithoutTheMetricChangeNothing(t *testing.T) {
	c := &clock{t0}
	e := newEngine(t, c, []telemetry.AlertRule{rule("r1", "level", ">", 5, telemetry.SeverityWarning, 0)})
	run(t, e, c, []step{{minute: 0, level: 9, want: "open rule r1 level"}})
	for _, m := range []map[string]float64{nil, {"flow": 1}, {"level": nan()}} {
		if got := e.Observe(t0, m, false); got != nil {
			t.Fatalf("Observe(%v) = %s, want nothing", m, render(got))
		}
	}
}

func TestCooldown(t *testing.T) {
	const o, r = "open rule r1 level", "resolve rule r1 level"
	tests := []struct {
		name  string
		steps []step
	}{
		{"flapping within the cooldown opens once", []step{
			{minute: 0, level: 9, want: o}, {minute: 1, level: 1, want: r},
			{minute: 2, level: 9}, {minute: 3, level: 1}, {minute: 9, level: 9}, {minute: 9, level: 1},
			{minute: 10, level: 9, want: o}, {minute: 11, level: 1, want: r},
		}},
		{"a crossing that lasts past the cooldown opens then", []step{
			{minute: 0, level: 9, want: o}, {minute: 1, level: 1, want: r},
			{minute: 2, level: 9}, {minute: 5, level: 9}, {minute: 12, level: 9, want: o}, {minute: 13, level: 9},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t0}
			e := newEngine(t, c, []telemetry.AlertRule{rule("r1", "level", ">", 5, telemetry.SeverityWarning, 10)})
			run(t, e, c, tt.steps)
		})
	}
}

func TestMaintenance(t *testing.T) {
	const o, r = "open rule r1 level", "resolve rule r1 level"
	c := &clock{t0}
	e := newEngine(t, c, []telemetry.AlertRule{rule("r1", "level", ">", 5, telemetry.SeverityWarning, 0)})
	run(t, e, c, []step{
		{minute: 0, level: 9, maint: true}, {minute: 1, level: 9, maint: true}, // suppressed
		{minute: 2, level: 9, want: o},              // the window ended, still across
		{minute: 3, level: 1, maint: true, want: r}, // resolutions still happen
		{minute: 4, level: 9, maint: true}, {minute: 5, level: 1, maint: true},
		{minute: 6, status: "offline", maint: true}, {minute: 7, status: "online", maint: true},
		{minute: 8, level: 1}, {minute: 9, level: 9, want: o},
	})
}

func TestOfflineOnline(t *testing.T) {
	const o, r = "open device_offline - -", "resolve device_offline - -"
	c := &clock{t0}
	e := newEngine(t, c, nil)
	run(t, e, c, []step{
		{minute: 0, status: "online"}, {minute: 1, status: "offline", want: o}, {minute: 2, status: "offline"},
		{minute: 3, status: "online", want: r}, {minute: 4, status: "online"}, {minute: 5, status: "offline", want: o},
	})
	if !e.CriticalOpen() {
		t.Error("the device is offline but CriticalOpen is false")
	}
	run(t, e, c, []step{{minute: 6, status: "online", want: r}})
	if e.CriticalOpen() {
		t.Error("the device is online again but CriticalOpen is true")
	}
}

func TestReseededAlertsAreNotDuplicated(t *testing.T) {
	c := &clock{t0.Add(2 * time.Minute)}
	rules := []telemetry.AlertRule{
		rule("r1", "level", ">", 5, telemetry.SeverityCritical, 10),
		rule("r2", "level", "<", 0, telemetry.SeverityWarning, 0),
	}
	rules[1].Enabled = false
	open := []telemetry.Alert{
		alert(telemetry.AlertKindRule, "r1", "level", telemetry.SeverityCritical),
		alert(telemetry.AlertKindRule, "r2", "level", telemetry.SeverityWarning),    // disabled since
		alert(telemetry.AlertKindRule, "", "level", telemetry.SeverityWarning),      // its rule was deleted
		alert(telemetry.AlertKindDeviceOffline, "", "", telemetry.SeverityCritical), // the device was offline
	}
	e, actions := alerting.New(alerting.Options{Node: node, Rules: rules, Open: open, Now: c.now})
	if got, want := render(actions), "resolve rule - level; resolve rule r2 level"; got != want {
		t.Fatalf("New: got %q, want %q", got, want)
	}
	if !e.CriticalOpen() {
		t.Fatal("seeded critical alerts but CriticalOpen is false")
	}
	run(t, e, c, []step{
		{minute: 2, level: 9}, {minute: 3, level: 9}, // already open: no second alert
		{minute: 4, level: 1, want: "resolve rule r1 level"},
		{minute: 5, level: 9}, // the seeded alert triggered at t0: cooling until minute 10
		{minute: 10, level: 9, want: "open rule r1 level"},
		{minute: 11, status: "offline"},
		{minute: 12, status: "online", want: "resolve device_offline - -"},
	})
}

func alert(kind telemetry.AlertKind, ruleID, metric string, sev telemetry.Severity) telemetry.Alert {
	al := telemetry.Alert{NodeID: node, Kind: kind, Severity: sev, Status: telemetry.AlertOpen, TriggeredAt: t0}
	if ruleID != "" {
		al.RuleID = &ruleID
	}
	if metric != "" {
		al.Metric = &metric
	}
	return al
}

func TestSetRulesResolvesAlertsOfRemovedRules(t *testing.T) {
	c := &clock{t0}
	r1 := rule("r1", "level", ">", 5, telemetry.SeverityWarning, 0)
	r2 := rule("r2", "level", ">", 6, telemetry.SeverityWarning, 0)
	r3 := rule("r3", "level", ">", 7, telemetry.SeverityWarning, 0)
	r4 := rule("r4", "level", ">", 8, telemetry.SeverityWarning, 0)
	e := newEngine(t, c, []telemetry.AlertRule{r1, r2, r3, r4})
	run(t, e, c, []step{{level: 9, want: "open rule r1 level; open rule r2 level; open rule r3 level; open rule r4 level"}})

	r2.Enabled = false // disabled
	r3.Threshold = 8.5 // updated, still crossed
	r4.Metric = "flow" // updated to another metric: another cause
	r4.Condition = telemetry.ConditionAbove
	got := e.SetRules([]telemetry.AlertRule{r2, r3, r4}) // r1 deleted
	if want := "resolve rule r1 level; resolve rule r2 level; resolve rule r4 level"; render(got) != want {
		t.Fatalf("SetRules: got %q, want %q", render(got), want)
	}
	if got := e.SetRules([]telemetry.AlertRule{r2, r3, r4}); got != nil {
		t.Fatalf("SetRules again: got %s, want nothing", render(got))
	}
	run(t, e, c, []step{
		{minute: 1, level: 9},                                // r1, r2 gone; r3 still open; flow 1 < 8
		{minute: 2, level: 8, want: "resolve rule r3 level"}, // the updated threshold decides
	})
}

// TestReadingsJudgedBeforeAreNotJudgedAgain: a device taking a node over
// fetches again readings its predecessor judged (they were not stored when
// it died). Until JudgedThrough they neither resolve the alert the
// predecessor opened nor open another; after it, judging resumes.
func TestReadingsJudgedBeforeAreNotJudgedAgain(t *testing.T) {
	c := &clock{t0}
	open := alert(telemetry.AlertKindRule, "r1", "level", telemetry.SeverityCritical)
	open.TriggeredAt = t0.Add(3 * time.Minute)
	e, actions := alerting.New(alerting.Options{Node: node, Now: c.now, Open: []telemetry.Alert{open},
		Rules: []telemetry.AlertRule{rule("r1", "level", ">", 5, telemetry.SeverityCritical, 0)}, JudgedThrough: open.TriggeredAt})
	if len(actions) != 0 {
		t.Fatalf("New: %s", render(actions))
	}
	run(t, e, c, []step{
		{minute: 1, level: 1}, {minute: 2, level: 1}, // before the crossing: it does not resolve
		{minute: 3, level: 9}, // the crossing the predecessor opened the alert for
		{minute: 4, level: 9}, // judged: still open, nothing new
		{minute: 5, level: 1, want: "resolve rule r1 level"},
	})
}
