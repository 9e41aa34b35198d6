package telemetry

import "time"

// Node is a provisioned device: one ThingSpeak channel and where it belongs.
// Optional columns are pointers (nil = not set).
type Node struct {
	ID            NodeID
	NodeKey       string
	Label         string
	Category      string // OHT | Sump | Borewell | GovtBorewell | PumpHouse | FlowMeter
	AnalyticsType string // EvaraTank | EvaraDeep | EvaraFlow
	LocationName  *string
	Lat, Lng      *float64
	Capacity      *float64
	Status        Status

	ChannelID ChannelID // 0: no channel yet
	// ChannelKey is the read key sealed by internal/keyring; only the device
	// actor opens it, and it is never returned to clients.
	ChannelKey    SealedSecret
	WriteKey      []byte            // sealed under ChannelKey.KeyID; nil when none
	FieldMapping  map[string]string // "field1" → "water_level"
	PollInterval  *time.Duration    // nil: the configured default
	HardwareID    *string
	DeviceType    *string
	PlanID        string
	CommunityID   *string
	CustomerID    *string
	DistributorID *string
	CreatedBy     *string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	LastSeen      *time.Time
	LastEntryID   int64 // newest stored entry: where the device resumes
	Version       int   // optimistic concurrency: updates must name it
	Config        *NodeConfig
}

// SealedSecret is a credential encrypted at rest and the id of the key that
// sealed it. The zero value means "none".
type SealedSecret struct {
	KeyID      string
	Ciphertext []byte
}

// IsSet reports whether a secret is stored.
func (s SealedSecret) IsSet() bool { return s.KeyID != "" }

// SealedCredential is one stored credential as key rotation sees it. The
// row id is also the associated data it was sealed with.
type SealedCredential struct {
	Table string // "nodes" or "webhook_subscriptions"
	ID    string
	Key   SealedSecret
	Extra []byte // a second ciphertext under the same key id (a node's write key), or nil
}

// NodeConfig holds the analytics parameters of a node (tank dimensions,
// well depth, pipe size…), as the admin form sends them.
type NodeConfig struct {
	Kind   string         // tank | deep | flow
	Params map[string]any // JSON object
}

// Scope limits what a caller may see (SPEC §9). The zero value sees nothing;
// a superadmin's scope has All set. A distributor sees its communities'
// nodes, a community admin its community's, a customer its own.
type Scope struct {
	All           bool
	DistributorID string
	CommunityID   string
	CustomerID    string
}

// NodeOwner is whom a node belongs to: what a Scope is checked against
// outside the store (an event on its way to live sessions).
// CommunityDistributorID is the distributor of the node's community.
type NodeOwner struct {
	CommunityID            string
	CustomerID             string
	DistributorID          string
	CommunityDistributorID string
}

// Covers reports whether the scope sees a node of owner o: the rule the
// stores apply in SQL (SPEC §9), for one node in memory. A customer sees
// its own nodes, a community admin its community's, a distributor the
// nodes assigned to it and those of its communities; the zero Scope sees
// nothing.
func (s Scope) Covers(o NodeOwner) bool {
	switch {
	case s.All:
		return true
	case s.CustomerID != "":
		return o.CustomerID == s.CustomerID
	case s.CommunityID != "":
		return o.CommunityID == s.CommunityID
	case s.DistributorID != "":
		return o.DistributorID == s.DistributorID || o.CommunityID != "" && o.CommunityDistributorID == s.DistributorID
	}
	return false
}

// Page is an offset page of a list.
type Page struct {
	Limit  int // 0: the default (50); capped at 1000
	Offset int
}

// Normalize applies the default and the cap.
func (p Page) Normalize() Page {
	if p.Limit <= 0 {
		p.Limit = 50
	}
	p.Limit = min(p.Limit, 1000)
	p.Offset = max(p.Offset, 0)
	return p
}

// NodeFilter narrows a node list.
type NodeFilter struct {
	Query       string // matches label, node_key, location_name (case-insensitive)
	Status      Status
	CommunityID string
	Page        Page
}

// StatusCounts is the per-status node count of a scope (dashboard stats).
type StatusCounts struct {
	Total, Online, Offline, Alert, Maintenance, Provisioning int
}
