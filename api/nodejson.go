package api

import (
	"time"

	"github.com/evaratech/evara/internal/telemetry"
)

// nodeJSON is the node object of SPEC §7 (list, get, create, update).
// Unset columns are null. The channel's read and write keys are never part
// of it, whoever asks: keys go in, never out.
//
// Beyond §7's fields it carries hardware_id and device_type (the admin
// form's names, so the form can show what it sent), config (the node's
// tank/deep/flow parameters: the store reads them with the node, and the
// dashboard's analytics need them with it) and version (the optimistic
// concurrency counter a PUT or PATCH may name to refuse a lost update).
type nodeJSON struct {
	ID                  string            `json:"id"`
	NodeKey             string            `json:"node_key"`
	Label               string            `json:"label"`
	Category            string            `json:"category"`
	AnalyticsType       string            `json:"analytics_type"`
	LocationName        *string           `json:"location_name"`
	Lat                 *float64          `json:"lat"`
	Lng                 *float64          `json:"lng"`
	Capacity            *float64          `json:"capacity"`
	Status              string            `json:"status"`
	ThingSpeakChannelID *int64            `json:"thingspeak_channel_id"`
	FieldMapping        map[string]string `json:"field_mapping"`
	PollIntervalSeconds *int64            `json:"poll_interval_seconds"`
	CommunityID         *string           `json:"community_id"`
	CustomerID          *string           `json:"customer_id"`
	DistributorID       *string           `json:"distributor_id"`
	CreatedBy           *string           `json:"created_by"`
	CreatedAt           time.Time         `json:"created_at"`
	UpdatedAt           time.Time         `json:"updated_at"`
	LastSeen            *time.Time        `json:"last_seen"`
	HardwareID          *string           `json:"hardware_id"`
	DeviceType          *string           `json:"device_type"`
	Config              *nodeConfigJSON   `json:"config"`
	Version             int               `json:"version"`
}

// nodeConfigJSON is a node's analytics parameters: kind tank, deep or flow.
type nodeConfigJSON struct {
	Kind   string         `json:"kind"`
	Params map[string]any `json:"params"`
}

func toNodeJSON(n telemetry.Node) nodeJSON {
	out := nodeJSON{
		ID: string(n.ID), NodeKey: n.NodeKey, Label: n.Label, Category: n.Category, AnalyticsType: n.AnalyticsType,
		LocationName: n.LocationName, Lat: n.Lat, Lng: n.Lng, Capacity: n.Capacity, Status: string(n.Status),
		FieldMapping: n.FieldMapping, CommunityID: n.CommunityID, CustomerID: n.CustomerID, DistributorID: n.DistributorID,
		CreatedBy: n.CreatedBy, CreatedAt: n.CreatedAt.UTC(), UpdatedAt: n.UpdatedAt.UTC(), HardwareID: n.HardwareID,
		DeviceType: n.DeviceType, Version: n.Version,
	}
	if out.FieldMapping == nil {
		out.FieldMapping = map[string]string{}
	}
	if n.ChannelID > 0 {
		ch := int64(n.ChannelID)
		out.ThingSpeakChannelID = &ch
	}
	if n.PollInterval != nil {
		secs := int64(n.PollInterval.Round(time.Second) / time.Second)
		out.PollIntervalSeconds = &secs
	}
	if n.LastSeen != nil {
		t := n.LastSeen.UTC()
		out.LastSeen = &t
	}
	if n.Config != nil {
		params := n.Config.Params
		if params == nil {
			params = map[string]any{}
		}
		out.Config = &nodeConfigJSON{Kind: n.Config.Kind, Params: params}
	}
	return out
}

// nodeMapJSON is one marker of GET /devices/map/all, in the names the
// dashboard's map reads: asset_type is the node's category (OHT, Sump…),
// asset_category and analytics_template its analytics family (tank, deep,
// flow) and type (EvaraTank…), specifications its config parameters.
type nodeMapJSON struct {
	ID                string         `json:"id"`
	Name              string         `json:"name"`
	AssetType         string         `json:"asset_type"`
	AssetCategory     string         `json:"asset_category"`
	Latitude          *float64       `json:"latitude"`
	Longitude         *float64       `json:"longitude"`
	Capacity          *float64       `json:"capacity"`
	Specifications    map[string]any `json:"specifications"`
	Status            string         `json:"status"`
	DeviceType        string         `json:"device_type"`
	AnalyticsTemplate string         `json:"analytics_template"`
	CommunityID       *string        `json:"community_id"`
	CreatedAt         time.Time      `json:"created_at"`
}

func toNodeMapJSON(n telemetry.Node) nodeMapJSON {
	family := analyticsFamily[n.AnalyticsType]
	out := nodeMapJSON{
		ID: string(n.ID), Name: n.Label, AssetType: n.Category, AssetCategory: family, Latitude: n.Lat, Longitude: n.Lng,
		Capacity: n.Capacity, Specifications: map[string]any{}, Status: string(n.Status), DeviceType: family,
		AnalyticsTemplate: n.AnalyticsType, CommunityID: n.CommunityID, CreatedAt: n.CreatedAt.UTC(),
	}
	if n.DeviceType != nil {
		out.DeviceType = *n.DeviceType
	}
	if n.Config != nil && n.Config.Params != nil {
		out.Specifications = n.Config.Params
	}
	return out
}
