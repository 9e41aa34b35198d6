package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/google/uuid"

	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak/sim"
)

// demoKinds maps a simulated channel kind to the node the dashboard shows.
var demoKinds = map[sim.Kind]struct {
	category, analytics string
	mapping             map[string]string
}{
	sim.KindTank:     {"OHT", "EvaraTank", map[string]string{"field1": "water_level", "field2": "temperature", "field3": "tds"}},
	sim.KindSump:     {"Sump", "EvaraTank", map[string]string{"field1": "water_level", "field2": "temperature", "field3": "tds"}},
	sim.KindBorewell: {"Borewell", "EvaraDeep", map[string]string{"field1": "water_depth", "field2": "pump_status", "field3": "temperature"}},
	sim.KindFlow:     {"FlowMeter", "EvaraFlow", map[string]string{"field1": "flow_rate", "field2": "total_volume", "field3": "pressure"}},
	sim.KindQuality:  {"PumpHouse", "EvaraFlow", map[string]string{"field1": "tds", "field2": "ph", "field3": "turbidity", "field4": "temperature"}},
}

// seedDemoNodes provisions one node per simulated channel (once: nodes that
// exist are left alone), with the channel's read key sealed like any other.
func seedDemoNodes(ctx context.Context, st store, kr *keyring.Keyring, channels []sim.ChannelSpec, log *slog.Logger) error {
	created := 0
	for _, ch := range channels {
		key := "demo-" + strconv.FormatInt(int64(ch.ID), 10)
		if _, err := st.GetNode(ctx, telemetry.Scope{All: true}, key); err == nil {
			continue
		} else if !errors.Is(err, telemetry.ErrNotFound) {
			return err
		}
		kind, ok := demoKinds[ch.Kind]
		if !ok {
			return fmt.Errorf("demo: no node kind for simulated %q channels", ch.Kind)
		}
		id := telemetry.NodeID(uuid.Must(uuid.NewV7()).String())
		keyID, sealed, err := kr.Seal([]byte(ch.ReadKey), []byte(id))
		if err != nil {
			return err
		}
		lat, lng := ch.Latitude, ch.Longitude
		n := &telemetry.Node{
			ID: id, NodeKey: key, Label: ch.Name, Category: kind.category, AnalyticsType: kind.analytics,
			LocationName: &ch.Name, Lat: &lat, Lng: &lng, ChannelID: ch.ID,
			ChannelKey:   telemetry.SealedSecret{KeyID: keyID, Ciphertext: sealed},
			FieldMapping: kind.mapping,
		}
		if ch.Height > 0 {
			n.Config = &telemetry.NodeConfig{Kind: "tank", Params: map[string]any{"height_cm": ch.Height}}
		}
		if err := st.CreateNode(ctx, n); err != nil {
			return fmt.Errorf("demo node %s: %w", key, err)
		}
		created++
	}
	if created > 0 {
		log.Info("demo nodes provisioned", "created", created, "channels", len(channels))
	}
	return nil
}
