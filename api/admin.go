package api

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

// Platform figures and system configuration, for superadmins.

func (s *Server) adminRoutes() {
	s.handle(fiber.MethodGet, "/stats", PermSystem, "platform figures: nodes, alerts, tenants, users", s.getPlatformStats)
	s.handle(fiber.MethodPut, "/system/config", PermSystem, "set the system configuration {rate, firmware}", s.putSystemConfig)
	s.handle(fiber.MethodGet, "/admin/system-status", PermSystem, "service health, build and system configuration", s.getSystemStatus)
}

// platformStats are the whole platform's figures.
type platformStats struct {
	TotalNodes        int `json:"total_nodes"`
	OnlineNodes       int `json:"online_nodes"`
	OfflineNodes      int `json:"offline_nodes"`
	AlertNodes        int `json:"alert_nodes"`
	MaintenanceNodes  int `json:"maintenance_nodes"`
	ProvisioningNodes int `json:"provisioning_nodes"`
	ActiveAlerts      int `json:"active_alerts"`
	TotalAlerts       int `json:"total_alerts"`
	Distributors      int `json:"distributors"`
	Communities       int `json:"communities"`
	Customers         int `json:"customers"`
	Users             int `json:"users"`
}

func (s *Server) getPlatformStats(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	all, one := telemetry.Scope{All: true}, telemetry.Page{Limit: 1}
	n, err := s.store.CountNodesByStatus(ctx, all)
	if err != nil {
		return err
	}
	alerts, err := s.store.AlertSummary(ctx, all)
	if err != nil {
		return err
	}
	out := platformStats{TotalNodes: n.Total, OnlineNodes: n.Online, OfflineNodes: n.Offline, AlertNodes: n.Alert,
		MaintenanceNodes: n.Maintenance, ProvisioningNodes: n.Provisioning, TotalAlerts: alerts.Total,
		ActiveAlerts: alerts.ByStatus[telemetry.AlertOpen] + alerts.ByStatus[telemetry.AlertAcknowledged]}
	// The list calls' totals count the rows; one row of each is read.
	if _, out.Distributors, err = s.store.ListDistributors(ctx, all, one); err != nil {
		return err
	}
	if _, out.Communities, err = s.store.ListCommunities(ctx, all, telemetry.CommunityFilter{Page: one}); err != nil {
		return err
	}
	if _, out.Customers, err = s.store.ListCustomers(ctx, all, telemetry.CustomerFilter{Page: one}); err != nil {
		return err
	}
	if _, out.Users, err = s.store.ListProfiles(ctx, all, one); err != nil {
		return err
	}
	return c.JSON(out)
}

// systemConfigKey is where the system configuration is stored.
const systemConfigKey = "system"

// systemConfig is the configuration devices are given: the reporting rate
// in seconds and the firmware version they should run.
type systemConfig struct {
	Rate     *int    `json:"rate"`
	Firmware *string `json:"firmware"`
}

// Reporting rates from 15 s (ThingSpeak's free tier allows no faster
// updates) to a day.
const (
	minReportRate = 15
	maxReportRate = 86_400
)

var firmwarePattern = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._+-]{0,31}$`)

func (cfg systemConfig) check() error {
	var v checks
	v.check(cfg.Rate != nil && *cfg.Rate >= minReportRate && *cfg.Rate <= maxReportRate, "rate",
		"is required: the reporting interval in seconds, 15 to 86400")
	v.check(cfg.Firmware != nil && firmwarePattern.MatchString(*cfg.Firmware), "firmware",
		"is required: a version of 1 to 32 letters, digits and . _ + -")
	return v.err()
}

// putSystemConfig replaces the system configuration (both fields are
// required: PUT states the whole of it) and audits the change.
func (s *Server) putSystemConfig(c *fiber.Ctx) error {
	var cfg systemConfig
	if err := decode(c, &cfg); err != nil {
		return err
	}
	if err := cfg.check(); err != nil {
		return err
	}
	value, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := reqContext()
	defer cancel()
	before, err := s.systemConfig(ctx)
	if err != nil {
		return err
	}
	if err := s.store.PutSystemConfig(ctx, systemConfigKey, value, principalOf(c).UserID()); err != nil {
		return err
	}
	s.record(c, "system_config.update", "system_config", systemConfigKey, map[string]any{"before": before, "after": cfg})
	return c.JSON(cfg)
}

// systemConfig is the stored configuration, nil when none was ever set.
func (s *Server) systemConfig(ctx context.Context) (*systemConfig, error) {
	raw, err := s.store.GetSystemConfig(ctx, systemConfigKey)
	if errors.Is(err, telemetry.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cfg systemConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// systemStatus is what GET /admin/system-status answers.
type systemStatus struct {
	Health Health        `json:"health"`
	Build  BuildInfo     `json:"build"`
	Config *systemConfig `json:"config"`
}

func (s *Server) getSystemStatus(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	cfg, err := s.systemConfig(ctx)
	if err != nil {
		return err
	}
	return c.JSON(systemStatus{Health: s.health.Health(ctx), Build: s.build, Config: cfg})
}
