package api

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/evaratech/evara/internal/telemetry"
)

// nodeExtras is what the node routes need beyond NodeStore.
type nodeExtras interface{}

// The node routes, under /nodes and the same under /devices (SPEC §7). A
// node is named by its id or its node_key. Creating and deleting nodes is
// device:provision; editing one needs what its changes need (see
// editPermission): the route lets every node:control holder in.
func (s *Server) nodeRoutes() {
	// Before /devices/:id…: "map" must never be read as a node's key.
	s.handle(fiber.MethodGet, "/devices/map/all", PermNodeRead, "every node in scope as a map marker", s.getNodeMap)
	for _, prefix := range []string{"/nodes", "/devices"} {
		s.handle(fiber.MethodGet, prefix, PermNodeRead, "nodes in scope (?q=, ?status=, ?community_id=, ?limit=, ?offset=)", s.listNodes)
		s.handle(fiber.MethodPost, prefix, PermNodeProvision, "provision a node: checks its channel, seals its keys, enforces the plan's quota", s.createNode)
		s.handle(fiber.MethodGet, prefix+"/:id", PermNodeRead, "a node by id or node_key", s.getNode)
		s.handle(fiber.MethodPut, prefix+"/:id", PermNodeControl, "replace a node's editable fields", s.putNode)
		s.handle(fiber.MethodPatch, prefix+"/:id", PermNodeControl, "change the fields a body names", s.patchNode)
		s.handle(fiber.MethodDelete, prefix+"/:id", PermNodeProvision, "delete a node with its readings", s.deleteNode)
	}
}

// maxQueryLen bounds ?q=.
const maxQueryLen = 200

func (s *Server) listNodes(c *fiber.Ctx) error {
	pg, err := page(c)
	if err != nil {
		return err
	}
	f := telemetry.NodeFilter{Query: strings.TrimSpace(c.Query("q")), Page: pg}
	var v checks
	v.check(len(f.Query) <= maxQueryLen, "q", "must be at most 200 characters")
	if raw := c.Query("status"); raw != "" {
		st, ok := parseStatus(raw)
		v.check(ok, "status", "must be one of Online, Offline, Maintenance, Alert, provisioning")
		f.Status = st
	}
	if raw := c.Query("community_id"); raw != "" {
		v.check(uuid.Validate(raw) == nil, "community_id", "must be a UUID")
		f.CommunityID = strings.ToLower(raw)
	}
	if err := v.err(); err != nil {
		return err
	}
	f.Query = strings.Clone(f.Query)
	ctx, cancel := reqContext()
	defer cancel()
	nodes, total, err := s.store.ListNodes(ctx, scopeOf(c), f)
	if err != nil {
		return err
	}
	out := make([]nodeJSON, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, toNodeJSON(n))
	}
	setTotal(c, total)
	return c.JSON(out)
}

// parseStatus reads a status filter, whatever its case.
func parseStatus(raw string) (telemetry.Status, bool) {
	for _, st := range []telemetry.Status{telemetry.StatusOnline, telemetry.StatusOffline, telemetry.StatusMaintenance,
		telemetry.StatusAlert, telemetry.StatusProvisioning} {
		if strings.EqualFold(raw, string(st)) {
			return st, true
		}
	}
	return "", false
}

func (s *Server) getNode(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	n, err := s.store.GetNode(ctx, scopeOf(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(toNodeJSON(n))
}

// createNode provisions a node: the body checked, its community and
// customer within the caller's scope, the customer's plan quota, then one
// upstream call to check the channel and key, the keys sealed, the node
// stored, audited and announced.
func (s *Server) createNode(c *fiber.Ctx) error {
	var in nodeInput
	if err := decodeNode(c, &in); err != nil {
		return err
	}
	var v checks
	in.normalize(&v)
	n := in.newNode(&v)
	if err := v.err(); err != nil {
		return err
	}
	ctx, cancel := reqContext()
	defer cancel()
	scope := scopeOf(c)
	if err := s.assign(ctx, scope, &n, &in); err != nil {
		return err
	}
	if n.CommunityID == nil && n.CustomerID == nil {
		switch {
		case scope.DistributorID != "":
			n.DistributorID = &scope.DistributorID // the distributor's own stock
		case !scope.All:
			return invalid("community_id", "is required")
		}
	}
	if n.CustomerID != nil {
		if err := s.checkQuota(ctx, *n.CustomerID, n.PlanID); err != nil {
			return err
		}
	}
	if in.ReadAPIKey != nil {
		if err := s.checkChannel(ctx, n.ChannelID, *in.ReadAPIKey); err != nil {
			return err
		}
		if err := s.sealKeys(&n, *in.ReadAPIKey, in.WriteAPIKey); err != nil {
			return err
		}
	}
	if p := principalOf(c); p != nil {
		by := p.UserID()
		n.CreatedBy = &by
	}
	if err := s.store.CreateNode(ctx, &n); err != nil {
		return err
	}
	out := toNodeJSON(n)
	s.record(c, "node.create", "node", string(n.ID), map[string]any{"after": out, "channel_key_set": n.ChannelKey.IsSet()})
	s.publishProvisioned(ctx, n, out)
	return c.Status(fiber.StatusCreated).JSON(out)
}

// assign files n under the community and customer the body names (nil:
// as they are; a null customer_id unassigns it), both within scope. A
// customer must belong to the node's community; a node follows its
// community's distributor and its customer's plan.
func (s *Server) assign(ctx context.Context, scope telemetry.Scope, n *telemetry.Node, in *nodeInput) error {
	if in.CommunityID != nil {
		co, err := s.store.GetCommunity(ctx, scope, *in.CommunityID)
		if errors.Is(err, telemetry.ErrNotFound) {
			return invalid("community_id", "no such community in your scope")
		} else if err != nil {
			return err
		}
		n.CommunityID, n.DistributorID = &co.ID, co.DistributorID
	}
	switch {
	case in.CustomerID != nil:
		cu, err := s.store.GetCustomer(ctx, scope, *in.CustomerID)
		if errors.Is(err, telemetry.ErrNotFound) {
			return invalid("customer_id", "no such customer in your scope")
		} else if err != nil {
			return err
		}
		if n.CommunityID == nil {
			n.CommunityID, n.DistributorID = cu.CommunityID, cu.DistributorID
		} else if cu.CommunityID == nil || *cu.CommunityID != *n.CommunityID {
			return invalid("customer_id", "belongs to another community than the node's")
		}
		n.CustomerID, n.PlanID = &cu.ID, cu.PlanID
	case in.nulls["customer_id"]:
		n.CustomerID = nil
	}
	return nil
}

// checkQuota refuses a node the customer's plan has no room for. The count
// and the insert are not one transaction: two concurrent creates for one
// customer may both pass (the quota is a commercial limit, not a safety one).
func (s *Server) checkQuota(ctx context.Context, customerID, planID string) error {
	if planID == "" {
		planID = "base"
	}
	plan, err := s.store.GetPlan(ctx, planID)
	if err != nil {
		return err
	}
	if plan.MaxDevices == nil {
		return nil
	}
	have, err := s.store.CountCustomerNodes(ctx, customerID)
	if err != nil {
		return err
	}
	if have >= *plan.MaxDevices {
		return fmt.Errorf("%w: the customer's plan %q allows %d devices and the customer has %d; upgrade the plan or remove a device",
			telemetry.ErrConflict, plan.ID, *plan.MaxDevices, have)
	}
	return nil
}

// checkChannel asks ThingSpeak once whether the channel exists and takes
// the key; a refusal is the read key's field problem.
func (s *Server) checkChannel(ctx context.Context, channel telemetry.ChannelID, readKey string) error {
	if s.channels == nil {
		return fmt.Errorf("%w: no channel check configured", telemetry.ErrUnavailable)
	}
	err := s.channels.CheckChannel(ctx, channel, readKey)
	var ve *ValidationError
	if errors.Is(err, telemetry.ErrInvalid) && !errors.As(err, &ve) {
		return invalid("thingspeak_read_api_key", invalidDetail(err))
	}
	return err
}

// sealKeys seals the read key, and the write key when there is one, bound
// to the node's id. Both must be under one key id (the store keeps one).
func (s *Server) sealKeys(n *telemetry.Node, readKey string, writeKey *string) error {
	if s.sealer == nil {
		return fmt.Errorf("%w: no key to seal channel keys with", telemetry.ErrUnavailable)
	}
	keyID, sealed, err := s.sealer.Seal([]byte(readKey), []byte(n.ID))
	if err != nil {
		return fmt.Errorf("seal the read key: %w", err)
	}
	n.ChannelKey = telemetry.SealedSecret{KeyID: keyID, Ciphertext: sealed}
	if writeKey == nil {
		return nil
	}
	writeID, writeSealed, err := s.sealer.Seal([]byte(*writeKey), []byte(n.ID))
	if err != nil {
		return fmt.Errorf("seal the write key: %w", err)
	}
	if writeID != keyID {
		return fmt.Errorf("%w: the sealing key rotated during the request; retry", telemetry.ErrUnavailable)
	}
	n.WriteKey = writeSealed
	return nil
}

// deleteNode deletes a node in scope; its readings, config and alerts go
// with it.
func (s *Server) deleteNode(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	scope := scopeOf(c)
	n, err := s.store.GetNode(ctx, scope, param(c, "id"))
	if err != nil {
		return err
	}
	if err := s.store.DeleteNode(ctx, scope, n.ID); err != nil {
		return err
	}
	s.nodes.forget()
	s.record(c, "node.delete", "node", string(n.ID), map[string]any{"before": toNodeJSON(n)})
	return c.SendStatus(fiber.StatusNoContent)
}

// getNodeMap lists every node in scope as a map marker.
func (s *Server) getNodeMap(c *fiber.Ctx) error {
	ctx, cancel := reqContext()
	defer cancel()
	scope := scopeOf(c)
	out := []nodeMapJSON{}
	for offset := 0; ; {
		nodes, total, err := s.store.ListNodes(ctx, scope, telemetry.NodeFilter{Page: telemetry.Page{Limit: 1000, Offset: offset}})
		if err != nil {
			return err
		}
		for _, n := range nodes {
			out = append(out, toNodeMapJSON(n))
		}
		offset += len(nodes)
		if len(nodes) == 0 || offset >= total {
			break
		}
	}
	return c.JSON(out)
}
