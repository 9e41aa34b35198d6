package api

import (
	"context"
	"encoding/json"
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// Store is everything the dashboard's routes read and write, one small
// interface per concern. internal/app passes the engine's store (PostgreSQL
// or embedded), which implements all of them. Every call that reads or
// changes tenant data takes the caller's scope; an object outside it is
// telemetry.ErrNotFound.
type Store interface {
	ProfileStore
	AuditStore
	NodeStore
	ReadingStore
	TenancyStore
	AlertStore
	OpsStore
	AnalyticsStore
	WebhookStore
	// What a route group adds beyond the above is declared in its own
	// file (nodes.go, tenancy.go, alerts.go).
	nodeExtras
	tenancyExtras
	alertExtras
}

// NodeStore holds the nodes.
type NodeStore interface {
	GetNode(ctx context.Context, scope telemetry.Scope, idOrKey string) (telemetry.Node, error)
	ListNodes(ctx context.Context, scope telemetry.Scope, f telemetry.NodeFilter) ([]telemetry.Node, int, error)
	CreateNode(ctx context.Context, n *telemetry.Node) error
	UpdateNode(ctx context.Context, scope telemetry.Scope, n telemetry.Node) (telemetry.Node, error)
	DeleteNode(ctx context.Context, scope telemetry.Scope, id telemetry.NodeID) error
	CountNodesByStatus(ctx context.Context, scope telemetry.Scope) (telemetry.StatusCounts, error)
	CountCustomerNodes(ctx context.Context, customerID string) (int, error)
}

// ReadingStore holds the readings.
type ReadingStore interface {
	LatestReading(ctx context.Context, node telemetry.NodeID) (telemetry.Reading, error)
	Readings(ctx context.Context, node telemetry.NodeID, q telemetry.ReadingQuery) ([]telemetry.Reading, error)
	StreamReadings(ctx context.Context, node telemetry.NodeID, q telemetry.ReadingQuery, fn func(telemetry.Reading) error) error
}

// TenancyStore holds plans, regions, distributors, communities, customers
// and the users' roles.
type TenancyStore interface {
	ListPlans(ctx context.Context) ([]telemetry.Plan, error)
	GetPlan(ctx context.Context, id string) (telemetry.Plan, error)
	ListRegions(ctx context.Context) ([]telemetry.Region, error)
	ListDistributors(ctx context.Context, scope telemetry.Scope, page telemetry.Page) ([]telemetry.Distributor, int, error)
	GetDistributor(ctx context.Context, scope telemetry.Scope, id string) (telemetry.Distributor, error)
	CreateCommunity(ctx context.Context, c *telemetry.Community) error
	GetCommunity(ctx context.Context, scope telemetry.Scope, idOrSlug string) (telemetry.Community, error)
	ListCommunities(ctx context.Context, scope telemetry.Scope, f telemetry.CommunityFilter) ([]telemetry.Community, int, error)
	CreateCustomer(ctx context.Context, c *telemetry.Customer) error
	GetCustomer(ctx context.Context, scope telemetry.Scope, id string) (telemetry.Customer, error)
	ListCustomers(ctx context.Context, scope telemetry.Scope, f telemetry.CustomerFilter) ([]telemetry.Customer, int, error)
	ListProfiles(ctx context.Context, scope telemetry.Scope, page telemetry.Page) ([]telemetry.UserProfile, int, error)
	SetRole(ctx context.Context, id string, role telemetry.Role, distributorID, communityID string) (before, after telemetry.UserProfile, err error)
}

// AlertStore holds alerts and alert rules.
type AlertStore interface {
	ListAlerts(ctx context.Context, scope telemetry.Scope, f telemetry.AlertFilter) ([]telemetry.Alert, int, error)
	GetAlert(ctx context.Context, scope telemetry.Scope, id string) (telemetry.Alert, error)
	AlertSummary(ctx context.Context, scope telemetry.Scope) (telemetry.AlertSummary, error)
	CountActiveAlerts(ctx context.Context, scope telemetry.Scope) (int, error)
	AcknowledgeAlert(ctx context.Context, scope telemetry.Scope, id, by string) (telemetry.Alert, error)
	ResolveAlert(ctx context.Context, scope telemetry.Scope, id, by, comment string) (telemetry.Alert, error)
	CreateRule(ctx context.Context, scope telemetry.Scope, r *telemetry.AlertRule) error
	GetRule(ctx context.Context, scope telemetry.Scope, id string) (telemetry.AlertRule, error)
	ListRules(ctx context.Context, scope telemetry.Scope, nodeID telemetry.NodeID) ([]telemetry.AlertRule, error)
	UpdateRule(ctx context.Context, scope telemetry.Scope, r telemetry.AlertRule) (telemetry.AlertRule, error)
	DeleteRule(ctx context.Context, scope telemetry.Scope, id string) error
}

// OpsStore holds maintenance windows, pipelines, provisioning tokens,
// system configuration and frontend error reports.
type OpsStore interface {
	CreateWindow(ctx context.Context, scope telemetry.Scope, w *telemetry.MaintenanceWindow) error
	ListWindows(ctx context.Context, scope telemetry.Scope, activeAt *time.Time) ([]telemetry.MaintenanceWindow, error)
	DeleteWindow(ctx context.Context, scope telemetry.Scope, id string) error
	CreatePipeline(ctx context.Context, p *telemetry.Pipeline) error
	ListPipelines(ctx context.Context) ([]telemetry.Pipeline, error)
	GetPipeline(ctx context.Context, id string) (telemetry.Pipeline, error)
	UpdatePipeline(ctx context.Context, p telemetry.Pipeline) (telemetry.Pipeline, error)
	DeletePipeline(ctx context.Context, id string) error
	CreateProvisioningToken(ctx context.Context, communityID string, customerID *string, createdBy string, ttl time.Duration) (string, error)
	ClaimProvisioningToken(ctx context.Context, token, userID string, now time.Time) (telemetry.ProvisioningClaim, error)
	GetSystemConfig(ctx context.Context, key string) (json.RawMessage, error)
	PutSystemConfig(ctx context.Context, key string, value json.RawMessage, updatedBy string) error
	InsertFrontendError(ctx context.Context, e telemetry.FrontendError) error
}

// Revoker revokes a token id until the token expires (logout), on every
// replica when Redis is configured.
type Revoker interface {
	Revoke(ctx context.Context, jti string, until time.Time) error
}

// Sealer seals a credential at rest (internal/keyring's Keyring); aad binds
// it to its row.
type Sealer interface {
	Seal(plaintext, aad []byte) (keyID string, ciphertext []byte, err error)
}

// ChannelChecker makes the one upstream call that checks a new node's
// channel and read key (ThingSpeak's last entry). It wraps
// telemetry.ErrInvalid for a channel that does not exist or refuses the
// key, and telemetry.ErrUnavailable when ThingSpeak cannot be asked.
type ChannelChecker interface {
	CheckChannel(ctx context.Context, channel telemetry.ChannelID, readKey string) error
}
