package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/evaratech/evara/internal/telemetry"
)

// nodeInput is the body of POST, PUT and PATCH on nodes. It takes the
// node's own names and the admin form's (hardware_id, device_label,
// device_type, long, thingspeak_mapping, config_tank|config_deep|
// config_flow); normalize folds the form's names into the node's. Strict
// decoding still refuses any other field.
type nodeInput struct {
	NodeKey             *string           `json:"node_key"`
	Label               *string           `json:"label"`
	Category            *string           `json:"category"`
	AnalyticsType       *string           `json:"analytics_type"`
	LocationName        *string           `json:"location_name"`
	Lat                 *float64          `json:"lat"`
	Lng                 *float64          `json:"lng"`
	Capacity            *float64          `json:"capacity"`
	Status              *string           `json:"status"`
	ChannelID           *int64            `json:"thingspeak_channel_id"`
	ReadAPIKey          *string           `json:"thingspeak_read_api_key"`
	WriteAPIKey         *string           `json:"thingspeak_write_api_key"`
	FieldMapping        map[string]string `json:"field_mapping"`
	PollIntervalSeconds *int64            `json:"poll_interval_seconds"`
	CommunityID         *string           `json:"community_id"`
	CustomerID          *string           `json:"customer_id"`
	Version             *int              `json:"version"`

	// The admin form's names.
	HardwareID        *string            `json:"hardware_id"`
	DeviceLabel       *string            `json:"device_label"`
	DeviceType        *string            `json:"device_type"`
	Long              *float64           `json:"long"`
	ThingSpeakMapping *thingspeakMapping `json:"thingspeak_mapping"`
	ConfigTank        map[string]any     `json:"config_tank"`
	ConfigDeep        map[string]any     `json:"config_deep"`
	ConfigFlow        map[string]any     `json:"config_flow"`

	config *telemetry.NodeConfig // from config_*, set by normalize
	nulls  map[string]bool       // top-level fields sent as null
	named  int                   // how many top-level fields the body names
}

// thingspeakMapping is the admin form's channel block. The form sends the
// channel id as a number or as a string of digits.
type thingspeakMapping struct {
	ChannelID    any               `json:"channel_id"`
	ReadAPIKey   *string           `json:"read_api_key"`
	WriteAPIKey  *string           `json:"write_api_key"`
	FieldMapping map[string]string `json:"field_mapping"`
}

// Limits of a node's fields.
const (
	minPollSeconds = 15 // ThingSpeak's free channels take an entry every 15 s at most
	maxPollSeconds = 24 * 60 * 60
	maxTextLen     = 200
	maxChannelID   = 1 << 53 // exact in a JSON number
)

var (
	nodeKeyPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)
	apiKeyPattern  = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)
	fieldKey       = regexp.MustCompile(`^field[1-8]$`)

	nodeCategories = []string{"OHT", "Sump", "Borewell", "GovtBorewell", "PumpHouse", "FlowMeter"}
	analyticsTypes = []string{"EvaraTank", "EvaraDeep", "EvaraFlow"}
	// analyticsFamily is each analytics type's config kind.
	analyticsFamily = map[string]string{"EvaraTank": "tank", "EvaraDeep": "deep", "EvaraFlow": "flow"}
	// defaultCategory is the category of a node the admin form sends
	// without one: the usual asset of its analytics type.
	defaultCategory = map[string]string{"EvaraTank": "OHT", "EvaraDeep": "Borewell", "EvaraFlow": "FlowMeter"}
)

// clearable are the fields a PATCH may set to null to clear them.
var clearable = map[string]bool{
	"location_name": true, "lat": true, "lng": true, "long": true, "capacity": true, "poll_interval_seconds": true,
	"field_mapping": true, "customer_id": true, "device_type": true,
}

// decodeNode decodes a node body strictly and notes its null fields.
func decodeNode(c *fiber.Ctx, in *nodeInput) error {
	if err := decode(c, in); err != nil {
		return err
	}
	var top map[string]json.RawMessage
	in.nulls = map[string]bool{}
	if json.Unmarshal(c.Body(), &top) == nil {
		in.named = len(top)
		for k, v := range top {
			if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
				in.nulls[k] = true
			}
		}
	}
	return nil
}

// normalize folds the admin form's names into the node's own and checks
// every field that is present.
func (in *nodeInput) normalize(v *checks) {
	for k := range in.nulls {
		v.check(clearable[k], k, "must not be null")
	}
	in.Label = eitherName(v, "label", in.Label, "device_label", in.DeviceLabel)
	in.Lng = eitherName(v, "lng", in.Lng, "long", in.Long)
	if m := in.ThingSpeakMapping; m != nil {
		in.ReadAPIKey = eitherName(v, "thingspeak_read_api_key", in.ReadAPIKey, "thingspeak_mapping.read_api_key", m.ReadAPIKey)
		in.WriteAPIKey = eitherName(v, "thingspeak_write_api_key", in.WriteAPIKey, "thingspeak_mapping.write_api_key", m.WriteAPIKey)
		if m.FieldMapping != nil {
			v.check(in.FieldMapping == nil, "field_mapping", "give field_mapping or thingspeak_mapping.field_mapping, not both")
			in.FieldMapping = m.FieldMapping
		}
		if m.ChannelID != nil {
			id, ok := channelNumber(m.ChannelID)
			v.check(ok, "thingspeak_mapping.channel_id", "must be a positive integer")
			if ok {
				in.ChannelID = eitherName(v, "thingspeak_channel_id", in.ChannelID, "thingspeak_mapping.channel_id", &id)
			}
		}
	}
	in.normalizeConfig(v)
	in.check(v)
}

func (in *nodeInput) normalizeConfig(v *checks) {
	set := 0
	for _, c := range []struct {
		kind   string
		params map[string]any
	}{{"tank", in.ConfigTank}, {"deep", in.ConfigDeep}, {"flow", in.ConfigFlow}} {
		if c.params != nil {
			set++
			in.config = &telemetry.NodeConfig{Kind: c.kind, Params: c.params}
		}
	}
	v.check(set <= 1, "config_"+in.configKind(), "give only one of config_tank, config_deep, config_flow")
	if in.AnalyticsType == nil && in.DeviceType != nil {
		// The form's device_type often names the analytics type ("EvaraTank", "tank").
		for t, family := range analyticsFamily {
			if strings.EqualFold(*in.DeviceType, t) || strings.EqualFold(*in.DeviceType, family) {
				in.AnalyticsType = &t
			}
		}
	}
	if in.AnalyticsType == nil && in.config != nil {
		for t, family := range analyticsFamily {
			if family == in.config.Kind {
				in.AnalyticsType = &t
			}
		}
	}
}

func (in *nodeInput) configKind() string {
	if in.config == nil {
		return "tank"
	}
	return in.config.Kind
}

// check validates each field that is present: first what the node is.
func (in *nodeInput) check(v *checks) {
	if in.NodeKey != nil {
		v.check(nodeKeyPattern.MatchString(*in.NodeKey) && uuid.Validate(*in.NodeKey) != nil, "node_key",
			"must be 1–64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit, and not a UUID")
	}
	if in.HardwareID != nil {
		v.check(nodeKeyPattern.MatchString(*in.HardwareID), "hardware_id", "must be 1–64 letters, digits, '.', '_', ':' or '-'")
	}
	if in.Label != nil {
		v.check(strings.TrimSpace(*in.Label) != "" && len(*in.Label) <= maxTextLen, "label", "must be 1–200 characters")
	}
	if in.Category != nil {
		v.check(contains(nodeCategories, *in.Category), "category", "must be one of "+strings.Join(nodeCategories, ", "))
	}
	if in.AnalyticsType != nil {
		v.check(contains(analyticsTypes, *in.AnalyticsType), "analytics_type", "must be one of "+strings.Join(analyticsTypes, ", "))
	}
	if in.AnalyticsType != nil && in.config != nil && contains(analyticsTypes, *in.AnalyticsType) {
		v.check(analyticsFamily[*in.AnalyticsType] == in.config.Kind, "config_"+in.config.Kind,
			"does not fit analytics_type "+*in.AnalyticsType)
	}
	checkText(v, "location_name", in.LocationName)
	checkText(v, "device_type", in.DeviceType)
	in.checkValues(v)
}

// checkValues validates the measures, the channel and the filing.
func (in *nodeInput) checkValues(v *checks) {
	if in.Lat != nil {
		v.check(*in.Lat >= -90 && *in.Lat <= 90, "lat", "must be from -90 to 90")
	}
	if in.Lng != nil {
		v.check(*in.Lng >= -180 && *in.Lng <= 180, "lng", "must be from -180 to 180")
	}
	if in.Capacity != nil {
		v.check(*in.Capacity > 0 && *in.Capacity <= 1e12, "capacity", "must be greater than 0 (litres)")
	}
	if in.PollIntervalSeconds != nil {
		v.check(*in.PollIntervalSeconds >= minPollSeconds && *in.PollIntervalSeconds <= maxPollSeconds, "poll_interval_seconds",
			fmt.Sprintf("must be from %d to %d", minPollSeconds, maxPollSeconds))
	}
	if in.ChannelID != nil {
		v.check(*in.ChannelID > 0 && *in.ChannelID < maxChannelID, "thingspeak_channel_id", "must be a positive integer")
	}
	for _, k := range []struct {
		field string
		key   *string
	}{{"thingspeak_read_api_key", in.ReadAPIKey}, {"thingspeak_write_api_key", in.WriteAPIKey}} {
		if k.key != nil {
			v.check(apiKeyPattern.MatchString(*k.key), k.field, "must be 1–64 letters and digits")
		}
	}
	v.check(in.WriteAPIKey == nil || in.ReadAPIKey != nil, "thingspeak_write_api_key", "must come with the read key")
	checkFieldMapping(v, in.FieldMapping)
	for _, id := range []struct {
		field string
		id    *string
	}{{"community_id", in.CommunityID}, {"customer_id", in.CustomerID}} {
		if id.id != nil {
			v.check(uuid.Validate(*id.id) == nil, id.field, "must be a UUID")
		}
	}
	if in.Status != nil {
		v.check(*in.Status != "", "status", "must not be empty")
	}
}

func checkText(v *checks, field string, s *string) {
	if s != nil {
		v.check(len(*s) <= maxTextLen, field, "must be at most 200 characters")
	}
}

// checkFieldMapping: keys field1..field8, each alias non-empty and used once.
func checkFieldMapping(v *checks, m map[string]string) {
	seen := map[string]bool{}
	for k, alias := range m {
		v.check(fieldKey.MatchString(k), "field_mapping."+k, "keys must be field1 to field8")
		a := strings.TrimSpace(alias)
		v.check(a != "" && len(a) <= 64, "field_mapping."+k, "the alias must be 1–64 characters")
		v.check(!seen[a], "field_mapping."+k, "alias "+strconv.Quote(a)+" is used twice")
		seen[a] = true
	}
}

// eitherName is the value of a field the body may name in two ways;
// naming it both ways with different values is a problem.
func eitherName[T comparable](v *checks, name string, own *T, formName string, form *T) *T {
	switch {
	case own == nil:
		return form
	case form != nil && *form != *own:
		v.check(false, formName, "differs from "+name)
	}
	return own
}

// channelNumber reads a channel id sent as a JSON number or a string of digits.
func channelNumber(raw any) (int64, bool) {
	switch x := raw.(type) {
	case float64:
		if x > 0 && x < maxChannelID && x == math.Trunc(x) {
			return int64(x), true
		}
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil && n > 0 && n < maxChannelID
	}
	return 0, false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// newNode is the node a create body describes, before scope and channel
// checks: required fields present, the form's defaults applied.
func (in *nodeInput) newNode(v *checks) telemetry.Node {
	if in.NodeKey == nil {
		in.NodeKey = in.HardwareID // the form names a node by its hardware id
	}
	v.check(in.NodeKey != nil, "node_key", "is required (or hardware_id)")
	v.check(in.Label != nil, "label", "is required (or device_label)")
	v.check(in.AnalyticsType != nil, "analytics_type", "is required (or device_type, or a config_tank|config_deep|config_flow)")
	if in.Category == nil && in.AnalyticsType != nil {
		if c, ok := defaultCategory[*in.AnalyticsType]; ok {
			in.Category = &c
		}
	}
	v.check(in.Category != nil, "category", "is required")
	v.check(in.Status == nil, "status", "is set by the device; a new node is provisioning")
	v.check(in.Version == nil, "version", "is not accepted on create")
	v.check(in.ChannelID == nil || in.ReadAPIKey != nil, "thingspeak_read_api_key", "is required with a channel")
	v.check(in.ReadAPIKey == nil || in.ChannelID != nil, "thingspeak_channel_id", "is required with a read key")
	if len(*v) > 0 {
		return telemetry.Node{}
	}
	n := telemetry.Node{
		ID: telemetry.NodeID(uuid.Must(uuid.NewV7()).String()), NodeKey: *in.NodeKey, Label: strings.TrimSpace(*in.Label),
		Category: *in.Category, AnalyticsType: *in.AnalyticsType, LocationName: in.LocationName, Lat: in.Lat, Lng: in.Lng,
		Capacity: in.Capacity, Status: telemetry.StatusProvisioning, FieldMapping: trimmedMapping(in.FieldMapping),
		PollInterval: pollInterval(in.PollIntervalSeconds), HardwareID: in.HardwareID, DeviceType: in.DeviceType, Config: in.config,
	}
	if in.ChannelID != nil {
		n.ChannelID = telemetry.ChannelID(*in.ChannelID)
	}
	return n
}

func trimmedMapping(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = strings.TrimSpace(v)
	}
	return out
}

func pollInterval(secs *int64) *time.Duration {
	if secs == nil {
		return nil
	}
	d := time.Duration(*secs) * time.Second
	return &d
}
