package telemetry

import "time"

// Plan is a subscription plan (SPEC §5): how many devices a customer may
// have and how long their readings are kept.
type Plan struct {
	ID            string // base | plus | pro
	Name          string
	MaxDevices    *int // nil: unlimited
	RetentionDays int  // 30 | 90 | 365
}

// Region is an area communities are filed under.
type Region struct {
	ID    int
	Name  string
	City  string
	State string
}

// Distributor is a company that sells and runs Evara for communities.
type Distributor struct {
	ID           string
	Name         string
	ContactEmail *string
	ContactPhone *string
	RegionID     *int
	Status       string // active | inactive | suspended
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Community is a gated community, campus or village whose water
// infrastructure Evara watches (SPEC §7 community object).
type Community struct {
	ID       string
	Name     string
	RegionID *int
	// Region is the region's name. On create it names the region when
	// RegionID is nil; on read it is filled in from RegionID.
	Region        *string
	City          *string
	Address       *string
	ContactEmail  *string
	ContactPhone  *string
	Status        string // active | inactive | suspended
	DistributorID *string
	// Slug is the community's unique URL name; on create it is made from
	// Name when empty ("Green Meadows" → "green-meadows", then "-2", "-3"…).
	Slug      string
	NodeCount int // nodes filed under the community (read only)
	CreatedAt time.Time
}

// CommunityFilter narrows a community list.
type CommunityFilter struct {
	Query string // matches name, slug, city (case-insensitive)
	Page  Page
}

// Customer is a household or business that owns devices (SPEC §7 customer
// object).
type Customer struct {
	ID            string
	FullName      string
	DisplayName   *string
	Email         *string
	ContactNumber *string
	// CommunityID and DistributorID must agree: a customer's distributor is
	// its community's. On create a missing DistributorID is taken from the
	// community.
	CommunityID   *string
	DistributorID *string
	PlanID        string // "" on create: base
	Status        string // pending | active | inactive | suspended; "" on create: active
	JoiningDate   time.Time
	UserID        *string // the login (users_profiles id) of this customer, if any
	CreatedAt     time.Time
	Devices       []NodeID // the customer's nodes within the caller's scope (read only)
}

// CustomerFilter narrows a customer list.
type CustomerFilter struct {
	CommunityID string
	Query       string // matches full_name, display_name, email, contact_number (case-insensitive)
	Page        Page
}

// Role is what a user may do (SPEC §9). It comes from users_profiles, never
// from the token.
type Role string

// The roles, from most to least powerful.
const (
	RoleSuperadmin     Role = "superadmin"
	RoleDistributor    Role = "distributor"
	RoleCommunityAdmin Role = "community_admin"
	RoleCustomer       Role = "customer"
)

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool {
	switch r {
	case RoleSuperadmin, RoleDistributor, RoleCommunityAdmin, RoleCustomer:
		return true
	}
	return false
}

// UserProfile is a user as Evara knows it: the identity (ID is the JWT
// `sub`) and the role and scope that decide what the user may see.
type UserProfile struct {
	ID            string
	Email         *string
	DisplayName   *string
	Role          Role
	Plan          *string
	DistributorID *string
	CommunityID   *string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	ID           int64 // set by the store
	UserID       string
	Action       string // the action_type column, e.g. "node.create", "role.change"
	ResourceType string
	ResourceID   string
	Metadata     map[string]any // a JSON object; nil is stored as {}
	RequestID    string
	Timestamp    time.Time // set by the store
}

// AuditFilter narrows an audit log listing; zero fields do not filter.
type AuditFilter struct {
	UserID       string
	ResourceType string
	ResourceID   string
	Since        time.Time // entries at or after this instant
	Page         Page
}

// FrontendError is an error report sent by a browser (a public endpoint:
// every field is untrusted and the store bounds their sizes).
type FrontendError struct {
	Message   string
	Stack     string
	URL       string
	UserAgent string
	UserID    string
}
