package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// OpsStore covers alert rules and alerts, maintenance windows, pipelines,
// provisioning tokens, webhook subscriptions and deliveries, and revoked tokens.
type OpsStore interface {
	// Alert rules.
	CreateRule(ctx context.Context, scope telemetry.Scope, r *telemetry.AlertRule) error
	GetRule(ctx context.Context, scope telemetry.Scope, id string) (telemetry.AlertRule, error)
	ListRules(ctx context.Context, scope telemetry.Scope, nodeID telemetry.NodeID) ([]telemetry.AlertRule, error)
	UpdateRule(ctx context.Context, scope telemetry.Scope, r telemetry.AlertRule) (telemetry.AlertRule, error)
	DeleteRule(ctx context.Context, scope telemetry.Scope, id string) error
	EnabledRules(ctx context.Context, nodeID telemetry.NodeID) ([]telemetry.AlertRule, error)

	// Alerts.
	OpenAlert(ctx context.Context, al *telemetry.Alert) (created bool, err error)
	ResolveAlertsFor(ctx context.Context, node telemetry.NodeID, kind telemetry.AlertKind, ruleID, metric, by, comment string) (telemetry.Alert, error)
	OpenAlerts(ctx context.Context, nodeID telemetry.NodeID) ([]telemetry.Alert, error)
	LastAlertActivity(ctx context.Context, nodeID telemetry.NodeID) (time.Time, error)
	GetAlert(ctx context.Context, scope telemetry.Scope, id string) (telemetry.Alert, error)
	ListAlerts(ctx context.Context, scope telemetry.Scope, f telemetry.AlertFilter) ([]telemetry.Alert, int, error)
	AlertSummary(ctx context.Context, scope telemetry.Scope) (telemetry.AlertSummary, error)
	AcknowledgeAlert(ctx context.Context, scope telemetry.Scope, id, by string) (telemetry.Alert, error)
	ResolveAlert(ctx context.Context, scope telemetry.Scope, id, by, comment string) (telemetry.Alert, error)
	CountActiveAlerts(ctx context.Context, scope telemetry.Scope) (int, error)

	// Maintenance windows.
	CreateWindow(ctx context.Context, scope telemetry.Scope, w *telemetry.MaintenanceWindow) error
	ListWindows(ctx context.Context, scope telemetry.Scope, activeAt *time.Time) ([]telemetry.MaintenanceWindow, error)
	DeleteWindow(ctx context.Context, scope telemetry.Scope, id string) error
	InMaintenance(ctx context.Context, nodeID telemetry.NodeID, at time.Time) (bool, error)
	NodeWindows(ctx context.Context, nodeID telemetry.NodeID, after time.Time) ([]telemetry.MaintenanceWindow, error)

	// Pipelines.
	CreatePipeline(ctx context.Context, p *telemetry.Pipeline) error
	ListPipelines(ctx context.Context) ([]telemetry.Pipeline, error)
	GetPipeline(ctx context.Context, id string) (telemetry.Pipeline, error)
	UpdatePipeline(ctx context.Context, p telemetry.Pipeline) (telemetry.Pipeline, error)
	DeletePipeline(ctx context.Context, id string) error

	// Provisioning tokens.
	CreateProvisioningToken(ctx context.Context, communityID string, customerID *string, createdBy string, ttl time.Duration) (string, error)
	ClaimProvisioningToken(ctx context.Context, token, userID string, now time.Time) (telemetry.ProvisioningClaim, error)

	// Webhook subscriptions and deliveries.
	CreateSubscription(ctx context.Context, scope telemetry.Scope, w *telemetry.WebhookSubscription) error
	ListSubscriptions(ctx context.Context, scope telemetry.Scope) ([]telemetry.WebhookSubscription, error)
	GetSubscription(ctx context.Context, scope telemetry.Scope, id string) (telemetry.WebhookSubscription, error)
	UpdateSubscription(ctx context.Context, scope telemetry.Scope, w telemetry.WebhookSubscription) (telemetry.WebhookSubscription, error)
	DeleteSubscription(ctx context.Context, scope telemetry.Scope, id string) error
	SubscriptionsFor(ctx context.Context, event, communityID string) ([]telemetry.WebhookSubscription, error)
	EnqueueDelivery(ctx context.Context, d *telemetry.WebhookDelivery) error
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]telemetry.DueDelivery, error)
	MarkDelivered(ctx context.Context, id string, status int) error
	MarkFailed(ctx context.Context, id string, status int, errText string, nextAttempt time.Time) error
	DeadLetter(ctx context.Context, id string, status int, errText string) error
	ListDeadLetters(ctx context.Context, scope telemetry.Scope, subscriptionID string, page telemetry.Page) ([]telemetry.WebhookDelivery, error)

	// Revoked tokens.
	RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error
	IsRevoked(ctx context.Context, jti string, now time.Time) (bool, error)
	PurgeRevoked(ctx context.Context, now time.Time) (int64, error)
}

func testOps(t *testing.T, open Opener) {
	t.Run("AlertRules", func(t *testing.T) { testAlertRules(t, open) })
	t.Run("Alerts", func(t *testing.T) { testAlerts(t, open) })
	t.Run("AlertLifecycle", func(t *testing.T) { testAlertLifecycle(t, open) })
	t.Run("Maintenance", func(t *testing.T) { testMaintenance(t, open) })
	t.Run("Pipelines", func(t *testing.T) { testPipelines(t, open) })
	t.Run("ProvisioningTokens", func(t *testing.T) { testProvisioningTokens(t, open) })
	t.Run("Webhooks", func(t *testing.T) { testWebhooks(t, open) })
	t.Run("WebhookDeliveries", func(t *testing.T) { testWebhookDeliveries(t, open) })
	t.Run("RevokedTokens", func(t *testing.T) { testRevokedTokens(t, open) })
}

// opsWorld is the tenancy of the ops tests: a distributor's community A
// with a customer's node and a shared node, community B with one node, and
// a user to act as.
type opsWorld struct {
	tenancy
	mine, neighbour, other *telemetry.Node // A (customer's), A, B
	user                   string
}

func arrangeOps(t *testing.T, s Store) opsWorld {
	t.Helper()
	w := opsWorld{tenancy: arrangeTenancy(t, s), user: "ops-user-" + newUUID()}
	w.mine = newNode("mine", &w.communityA, &w.customer, &w.distributor)
	w.neighbour = newNode("neighbour", &w.communityA, nil, &w.distributor)
	w.other = newNode("other", &w.communityB, nil, nil)
	for _, n := range []*telemetry.Node{w.mine, w.neighbour, w.other} {
		if err := s.CreateNode(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DB().Exec(context.Background(), rebind(s, "INSERT INTO users_profiles (id, role) VALUES ($1, 'superadmin')"), w.user); err != nil {
		t.Fatal(err)
	}
	return w
}

// opsScopes are the callers every scope test runs as, and which of the
// world's nodes each may see.
func (w opsWorld) scopes() map[string]struct {
	scope telemetry.Scope
	sees  []*telemetry.Node
} {
	return map[string]struct {
		scope telemetry.Scope
		sees  []*telemetry.Node
	}{
		"superadmin":        {everything, []*telemetry.Node{w.mine, w.neighbour, w.other}},
		"distributor":       {telemetry.Scope{DistributorID: w.distributor}, []*telemetry.Node{w.mine, w.neighbour}},
		"community admin A": {telemetry.Scope{CommunityID: w.communityA}, []*telemetry.Node{w.mine, w.neighbour}},
		"community admin B": {telemetry.Scope{CommunityID: w.communityB}, []*telemetry.Node{w.other}},
		"customer":          {telemetry.Scope{CustomerID: w.customer}, []*telemetry.Node{w.mine}},
		"nobody":            {telemetry.Scope{}, nil},
	}
}

// opsIs fails the test unless err is want (nil: no error).
func opsIs(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}
