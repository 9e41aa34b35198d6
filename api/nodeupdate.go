package api

import (
	"context"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/evaratech/evara/internal/telemetry"
)

// putNode replaces a node's editable fields: label, category and
// analytics_type are required, and the optional ordinary fields a PUT
// leaves out (location_name, lat, lng, capacity, poll_interval_seconds,
// field_mapping, device_type) are cleared. What a client cannot send back
// as it read it — the channel's keys — and the node's filing (node_key,
// hardware_id, channel, community, customer, config) stay as they are
// unless the body names them.
func (s *Server) putNode(c *fiber.Ctx) error { return s.updateNode(c, true) }

// patchNode changes what the body names and nothing else; null clears an
// optional field.
func (s *Server) patchNode(c *fiber.Ctx) error { return s.updateNode(c, false) }

// updateNode edits a node in scope. The store's version guards the edit:
// a body may name the version it read ("version"), and a change made by
// someone else meanwhile is 409 either way.
func (s *Server) updateNode(c *fiber.Ctx, full bool) error {
	var in nodeInput
	if err := decodeNode(c, &in); err != nil {
		return err
	}
	if in.named == 0 {
		return invalid("body", "names no field to change")
	}
	var v checks
	in.normalize(&v)
	if err := v.err(); err != nil {
		return err
	}
	ctx, cancel := reqContext()
	defer cancel()
	scope := scopeOf(c)
	before, err := s.store.GetNode(ctx, scope, param(c, "id"))
	if err != nil {
		return err
	}
	after, err := in.edit(before, full)
	if err != nil {
		return err
	}
	if err := s.allowEdit(c, editPermission(before, after, &in)); err != nil {
		return err
	}
	if err := s.assign(ctx, scope, &after, &in); err != nil {
		return err
	}
	if after.CustomerID != nil && !samePtr(before.CustomerID, after.CustomerID) {
		if err := s.checkQuota(ctx, *after.CustomerID, after.PlanID); err != nil {
			return err
		}
	}
	if in.ReadAPIKey != nil {
		if err := s.rekey(ctx, before, &after, *in.ReadAPIKey, in.WriteAPIKey); err != nil {
			return err
		}
	}
	updated, err := s.store.UpdateNode(ctx, scope, after)
	if err != nil {
		return err
	}
	s.nodes.forget()
	out := toNodeJSON(updated)
	s.record(c, "node.update", "node", string(updated.ID), map[string]any{
		"before": toNodeJSON(before), "after": out, "channel_key_changed": in.ReadAPIKey != nil})
	return c.JSON(out)
}

// rekey checks the channel with the new read key and seals it. A write key
// sealed under another key id than the new read key's cannot be kept (the
// store keeps one key id per node): it is dropped unless the body sends it
// again.
func (s *Server) rekey(ctx context.Context, before telemetry.Node, after *telemetry.Node, readKey string, writeKey *string) error {
	if err := s.checkChannel(ctx, after.ChannelID, readKey); err != nil {
		return err
	}
	oldWrite := after.WriteKey
	after.WriteKey = nil
	if err := s.sealKeys(after, readKey, writeKey); err != nil {
		return err
	}
	if writeKey == nil && after.ChannelKey.KeyID == before.ChannelKey.KeyID {
		after.WriteKey = oldWrite
	}
	return nil
}

// edit applies the body to a copy of n. PUT (full) requires the node's
// defining fields and clears the ordinary optional ones it leaves out.
func (in *nodeInput) edit(n telemetry.Node, full bool) (telemetry.Node, error) {
	var v checks
	if full {
		v.check(in.Label != nil, "label", "is required (or device_label)")
		v.check(in.Category != nil, "category", "is required")
		v.check(in.AnalyticsType != nil, "analytics_type", "is required")
	}
	if in.Version != nil && *in.Version != n.Version {
		return n, fmt.Errorf("%w: the node is at version %d, not %d; reload and retry", telemetry.ErrConflict, n.Version, *in.Version)
	}
	v.check(in.Status == nil || *in.Status == string(n.Status), "status",
		"is set by the device; plan maintenance with /manage/maintenance")
	n.FieldMapping = copyMapping(n.FieldMapping) // n shares the map with the caller's before
	setString(&n.NodeKey, in.NodeKey)
	if in.Label != nil {
		n.Label = strings.TrimSpace(*in.Label)
	}
	setString(&n.Category, in.Category)
	setString(&n.AnalyticsType, in.AnalyticsType)
	if in.HardwareID != nil {
		n.HardwareID = in.HardwareID
	}
	clearing := func(names ...string) bool {
		for _, name := range names {
			if in.nulls[name] {
				return true
			}
		}
		return full
	}
	setOptional(&n.LocationName, in.LocationName, clearing("location_name"))
	setOptional(&n.DeviceType, in.DeviceType, clearing("device_type"))
	setOptional(&n.Lat, in.Lat, clearing("lat"))
	setOptional(&n.Lng, in.Lng, clearing("lng", "long"))
	setOptional(&n.Capacity, in.Capacity, clearing("capacity"))
	if in.PollIntervalSeconds != nil || clearing("poll_interval_seconds") {
		n.PollInterval = pollInterval(in.PollIntervalSeconds)
	}
	if in.FieldMapping != nil || clearing("field_mapping") {
		n.FieldMapping = trimmedMapping(in.FieldMapping)
	}
	if in.config != nil {
		n.Config = in.config
	}
	if in.ChannelID != nil && telemetry.ChannelID(*in.ChannelID) != n.ChannelID {
		v.check(in.ReadAPIKey != nil, "thingspeak_read_api_key", "is required when the channel changes")
		n.ChannelID = telemetry.ChannelID(*in.ChannelID)
	}
	v.check(in.ReadAPIKey == nil || n.ChannelID > 0, "thingspeak_channel_id", "is required with a read key")
	if n.Config != nil && contains(analyticsTypes, n.AnalyticsType) {
		v.check(analyticsFamily[n.AnalyticsType] == n.Config.Kind, "analytics_type",
			"does not fit the node's config ("+n.Config.Kind+"); send config_"+analyticsFamily[n.AnalyticsType]+" with it")
	}
	return n, v.err()
}

// editPermission is what an edit needs (SPEC §9). Ordinary edits — label,
// location, position, capacity, field mapping, poll interval, config,
// device type — are node:control: customers control their own nodes.
// Giving the node to another customer (or none) is customer:manage, as
// community admins manage their community's customers. What changes which
// device the node is or whose it is — node_key, hardware_id, category,
// analytics type, channel and keys, community — is device:provision.
// Fields sent unchanged need nothing more, so a PUT may send back what it
// read. It is decided before the named community and customer are looked
// up, so a caller who may not move nodes learns nothing about ids.
func editPermission(before, after telemetry.Node, in *nodeInput) Permission {
	movesCommunity := in.CommunityID != nil && !strings.EqualFold(*in.CommunityID, deref(before.CommunityID))
	movesCustomer := (in.CustomerID != nil && !strings.EqualFold(*in.CustomerID, deref(before.CustomerID))) ||
		(in.nulls["customer_id"] && before.CustomerID != nil)
	switch {
	case in.ReadAPIKey != nil, movesCommunity, before.NodeKey != after.NodeKey, !samePtr(before.HardwareID, after.HardwareID),
		before.Category != after.Category, before.AnalyticsType != after.AnalyticsType, before.ChannelID != after.ChannelID:
		return PermNodeProvision
	case movesCustomer:
		return PermCustomers
	}
	return PermNodeControl
}

// allowEdit refuses, and audits, an edit the caller's role may not make.
func (s *Server) allowEdit(c *fiber.Ctx, perm Permission) error {
	p := principalOf(c)
	if p != nil && Allows(p.Profile.Role, perm) {
		return nil
	}
	role := ""
	if p != nil {
		role = string(p.Profile.Role)
	}
	s.record(c, "permission.denied", "node", param(c, "id"), map[string]any{
		"method": c.Method(), "path": string(c.Request().URI().Path()), "permission": string(perm), "role": role})
	return fiber.NewError(fiber.StatusForbidden, "your role may not make this change: it needs "+string(perm))
}

func samePtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func setString(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

// setOptional sets an optional field, or clears it when clearIt and the body
// gives no value.
func setOptional[T any](dst **T, v *T, clearIt bool) {
	switch {
	case v != nil:
		*dst = v
	case clearIt:
		*dst = nil
	}
}

func copyMapping(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
