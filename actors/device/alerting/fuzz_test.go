package alerting_test

import (
	"slices"
	"testing"
	"time"

	"github.com/evaratech/evara/actors/device/alerting"
	"github.com/evaratech/evara/internal/telemetry"
)

// FuzzActionsAlternate drives an engine with arbitrary readings, status
// changes, maintenance windows, rule changes, clock steps and re-seeds,
// and checks the contract the store relies on: per cause, Opens and
// Resolves alternate (an Open only for a cause not open, a Resolve only
// for one that is), no rule alert opens for a rule not enabled, nothing
// opens in maintenance, and Open() is exactly what the actions say.
func FuzzActionsAlternate(f *testing.F) {
	f.Add([]byte{0, 200, 0, 10, 1, 0, 2, 0, 9, 0, 3, 5, 0, 200, 4, 30, 0, 0})
	f.Add([]byte{1, 1, 0, 50, 0, 51, 0, 250, 2, 0, 255, 1, 0, 5, 0, 3, 0, 0, 3, 1, 0, 0, 0})
	f.Add(slices.Repeat([]byte{0, 100, 0, 101, 0, 99}, 20))
	f.Add([]byte{0, 200, 0, 210, 2, 1, 2, 1, 0, 5, 0, 4})
	all := []telemetry.AlertRule{
		rule("r1", "a", ">", 150, telemetry.SeverityCritical, 0),
		rule("r2", "a", "<", 20, telemetry.SeverityWarning, 5),
		rule("r3", "b", ">=", 100, telemetry.SeverityInfo, 1),
		rule("r4", "b", "==", 0, telemetry.SeverityWarning, 0),
		rule("r5", "a", "!=", 100, telemetry.SeverityWarning, 30),
	}
	f.Fuzz(func(t *testing.T, ops []byte) {
		c := &clock{t0}
		rules := all
		e, actions := alerting.New(alerting.Options{Node: node, Rules: rules, Now: c.now,
			AnomalyWindow: 10, AnomalyMinSamples: 5})
		open := map[alerting.Cause]bool{}
		maint := false
		check := func(op string, actions []alerting.Action) {
			t.Helper()
			for _, a := range actions {
				cause := a.Cause()
				if (a.Open != nil) == (a.Resolve != nil) {
					t.Fatalf("%s: action %+v sets both or neither", op, a)
				}
				if a.Open != nil && open[cause] || a.Open == nil && !open[cause] {
					t.Fatalf("%s: %s out of turn (open: %v)", op, render([]alerting.Action{a}), open)
				}
				if a.Open != nil && maint {
					t.Fatalf("%s: %s in maintenance", op, render([]alerting.Action{a}))
				}
				if a.Open != nil && cause.Kind == telemetry.AlertKindRule && !slices.ContainsFunc(rules, func(r telemetry.AlertRule) bool {
					return r.ID == cause.RuleID && r.Enabled
				}) {
					t.Fatalf("%s: %s of a rule not enabled", op, render([]alerting.Action{a}))
				}
				open[cause] = a.Open != nil
				if !open[cause] {
					delete(open, cause)
				}
			}
			got := e.Open()
			if len(got) != len(open) {
				t.Fatalf("%s: Open() = %v, actions say %v", op, got, open)
			}
			for _, c := range got {
				if !open[c] {
					t.Fatalf("%s: Open() = %v, actions say %v", op, got, open)
				}
			}
		}
		check("New", actions)
		for len(ops) >= 2 {
			op, arg := ops[0]%6, ops[1]
			ops = ops[2:]
			switch op {
			case 0:
				check("Observe a", e.Observe(c.t, map[string]float64{"a": float64(arg)}, maint))
			case 1:
				check("Observe b", e.Observe(c.t, map[string]float64{"b": float64(arg) / 2, "a": 100}, maint))
			case 2:
				check("StatusChanged", e.StatusChanged(arg%2 == 1, c.t, maint))
			case 3:
				maint = arg%2 == 1
			case 4:
				rules = nil
				for i, r := range all {
					r.Enabled = arg&(1<<i) != 0
					rules = append(rules, r)
				}
				check("SetRules", e.SetRules(rules))
			case 5:
				c.t = c.t.Add(time.Duration(arg) * time.Minute)
				if arg == 255 { // re-seed from what the store would hold
					var seed []telemetry.Alert
					for _, cause := range e.Open() {
						seed = append(seed, alert(cause.Kind, cause.RuleID, cause.Metric, telemetry.SeverityWarning))
					}
					check("Reseed", e.Reseed(seed))
				}
			}
		}
	})
}
