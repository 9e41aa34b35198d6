package api

import (
	"errors"
	"math"
	"testing"

	"github.com/evaratech/evara/internal/telemetry"
)

// TestDashboardStatsDefinition pins what avg_health_score and
// critical_devices mean: the dashboard shows them as they are.
func TestDashboardStatsDefinition(t *testing.T) {
	for _, tc := range []struct {
		name             string
		counts           telemetry.StatusCounts
		wantScore        float64
		wantCritical     int
		wantTotal, wantA int
	}{
		{"no nodes", telemetry.StatusCounts{}, 0, 0, 0, 0},
		{"all online", telemetry.StatusCounts{Total: 3, Online: 3}, 100, 0, 3, 0},
		{"one of each", telemetry.StatusCounts{Total: 4, Online: 1, Offline: 1, Alert: 1, Maintenance: 1}, 50, 2, 4, 1},
		{"provisioning ones are not rated", telemetry.StatusCounts{Total: 3, Online: 1, Provisioning: 2}, 100, 0, 3, 0},
		{"only provisioning", telemetry.StatusCounts{Total: 2, Provisioning: 2}, 0, 0, 2, 0},
		{"rounded to one decimal", telemetry.StatusCounts{Total: 3, Online: 1, Alert: 1, Offline: 1}, 41.7, 2, 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := statsOf(tc.counts, 7, HealthDegraded)
			if math.Abs(got.AvgHealthScore-tc.wantScore) > 1e-9 || got.CriticalDevices != tc.wantCritical ||
				got.TotalNodes != tc.wantTotal || got.AlertNodes != tc.wantA || got.ActiveAlerts != 7 || got.SystemHealth != HealthDegraded {
				t.Errorf("statsOf(%+v) = %+v; want score %v, critical %d", tc.counts, got, tc.wantScore, tc.wantCritical)
			}
		})
	}
}

// TestRuleAndPipelineValidation checks the field checks of bodies that
// the store would otherwise take as they come.
func TestRuleAndPipelineValidation(t *testing.T) {
	str := func(s string) *string { return &s }
	num := func(f float64) *float64 { return &f }
	integer := func(n int) *int { return &n }
	valid := ruleRequest{Name: str("Low"), Metric: str("water_level"), Condition: str("<"), Threshold: num(20), Severity: str("warning")}
	for _, tc := range []struct {
		name  string
		edit  func(*ruleRequest)
		field string
	}{
		{"valid", func(*ruleRequest) {}, ""},
		{"unknown condition", func(r *ruleRequest) { r.Condition = str("=>") }, "condition"},
		{"unknown severity", func(r *ruleRequest) { r.Severity = str("fatal") }, "severity"},
		{"blank name", func(r *ruleRequest) { r.Name = str("  ") }, "name"},
		{"infinite threshold", func(r *ruleRequest) { r.Threshold = num(math.Inf(1)) }, "threshold"},
		{"negative cooldown", func(r *ruleRequest) { r.CooldownMinutes = integer(-1) }, "cooldown_minutes"},
		{"cooldown over a week", func(r *ruleRequest) { r.CooldownMinutes = integer(10081) }, "cooldown_minutes"},
		{"cooldown of a week", func(r *ruleRequest) { r.CooldownMinutes = integer(10080) }, ""},
	} {
		t.Run("rule "+tc.name, func(t *testing.T) {
			req := valid
			tc.edit(&req)
			checkField(t, req.apply(&telemetry.AlertRule{}), tc.field)
		})
	}
	two := []telemetry.LatLng{{17.3, 78.4}, {17.4, 78.5}}
	for _, tc := range []struct {
		name  string
		req   pipelineRequest
		field string
	}{
		{"valid", pipelineRequest{Name: str("Main"), Color: str("#A1b2C3"), Positions: &two}, ""},
		{"one point", pipelineRequest{Name: str("Main"), Positions: &[]telemetry.LatLng{{1, 2}}}, "positions"},
		{"latitude out of range", pipelineRequest{Name: str("Main"), Positions: &[]telemetry.LatLng{{91, 2}, {1, 2}}}, "positions"},
		{"longitude out of range", pipelineRequest{Name: str("Main"), Positions: &[]telemetry.LatLng{{1, -181}, {1, 2}}}, "positions"},
		{"color name", pipelineRequest{Name: str("Main"), Color: str("blue"), Positions: &two}, "color"},
		{"short color", pipelineRequest{Name: str("Main"), Color: str("#abc"), Positions: &two}, "color"},
	} {
		t.Run("pipeline "+tc.name, func(t *testing.T) {
			checkField(t, tc.req.apply(&telemetry.Pipeline{}), tc.field)
		})
	}
}

func checkField(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a validation error of %s", err, field)
	}
	for _, f := range ve.Fields {
		if f.Field == field {
			return
		}
	}
	t.Errorf("fields %+v, want %s", ve.Fields, field)
}
