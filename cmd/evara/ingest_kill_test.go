package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	enc "encoding/binary"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak"
	"github.com/evaratech/evara/persistence/pgstore"
	"github.com/evaratech/evara/persistence/sqlitestore"
	"github.com/evaratech/evara/persistence/storetest"
)

// ingestStore is what the kill test needs from a store.
type ingestStore interface {
	CreateNode(ctx context.Context, n *telemetry.Node) error
	GetNode(ctx context.Context, scope telemetry.Scope, idOrKey string) (telemetry.Node, error)
	Readings(ctx context.Context, node telemetry.NodeID, q telemetry.ReadingQuery) ([]telemetry.Reading, error)
	Close() error
}

var testKey = "k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, keyring.KeySize))

// TestKillDuringIngest: `evara serve` is SIGKILLed in the middle of a heavy
// ingest from a real `evara sim` process and started again; in the end every
// simulator entry up to each node's resume point is stored exactly once, and
// the stored values match the simulator's own (count and checksum) — with
// both stores.
func TestKillDuringIngest(t *testing.T) {
	engines := map[string]func(t *testing.T) (env []string, open func() ingestStore){
		"postgres": func(t *testing.T) ([]string, func() ingestStore) {
			url := storetest.FreshSchema(t)
			return []string{"DATABASE_URL=" + url}, pgOpener(t, url)
		},
		"embedded": func(t *testing.T) ([]string, func() ingestStore) {
			dir := t.TempDir()
			return []string{"EVARA_DATA_DIR=" + dir}, func() ingestStore {
				s, err := sqlitestore.Open(context.Background(), dir, nil)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
		},
	}
	for name, engine := range engines {
		t.Run(name, func(t *testing.T) {
			env, open := engine(t)
			simURL := startSim(t, "--channels", "20", "--period", "1s", "--history", "6000", "--seed", "11")
			nodes := provision(t, open, simURL, time.Second)

			env = append(env, "EVARA_ENCRYPTION_KEY="+testKey, "EVARA_THINGSPEAK_URL="+simURL, "EVARA_POLL_INTERVAL=1s", "EVARA_UPSTREAM_RATE=500")
			first := startEvara(t, env, "serve", "--addr", "127.0.0.1:0")
			first.waitFor(t, "evara serving", 20*time.Second)
			waitStored(t, open, nodes, 1_000) // early in a backlog of 120,000 entries
			first.kill()
			atKill := waitStored(t, open, nodes, 0)
			if atKill >= 20*6000 {
				t.Fatalf("the whole backlog (%d) was stored before the kill: the test did not kill mid-ingest", atKill)
			}

			second := startEvara(t, env, "serve", "--addr", "127.0.0.1:0")
			second.waitFor(t, "evara serving", 20*time.Second)
			final := waitStored(t, open, nodes, 20*6000+20) // the whole backlog and then some
			second.stop(t)
			t.Logf("killed with %d readings stored, %d after the restart", atKill, final)

			verify(t, open, simURL, nodes)
		})
	}
}

// pgOpener opens the PostgreSQL store of a test schema.
func pgOpener(t testing.TB, url string) func() ingestStore {
	return func() ingestStore {
		s, err := pgstore.Open(context.Background(), url, pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

type simChannel struct {
	id  telemetry.ChannelID
	key string
}

func provision(t testing.TB, open func() ingestStore, simURL string, poll time.Duration) map[telemetry.NodeID]simChannel {
	t.Helper()
	stats := simStats(t, simURL)
	kr, err := keyring.Parse(testKey)
	if err != nil {
		t.Fatal(err)
	}
	st := open()
	defer st.Close()
	nodes := map[telemetry.NodeID]simChannel{}
	for id, ch := range stats.Channels {
		idText := id.String()
		nodeID := telemetry.NodeID(uuid.NewString())
		keyID, sealed, err := kr.Seal([]byte(ch.ReadKey), []byte(nodeID))
		if err != nil {
			t.Fatal(err)
		}
		n := &telemetry.Node{ID: nodeID, NodeKey: "kill-" + idText, Label: idText, Category: "OHT", AnalyticsType: "EvaraTank",
			ChannelID: id, ChannelKey: telemetry.SealedSecret{KeyID: keyID, Ciphertext: sealed}, PollInterval: &poll}
		if err := st.CreateNode(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		nodes[nodeID] = simChannel{id: id, key: ch.ReadKey}
	}
	return nodes
}

// waitStored waits until the nodes' resume points add up to at least n
// (entries are stored from 1 without gaps, so that is the number stored;
// verify checks it), and returns the sum. It reads one row per node, so it
// can poll often while an ingest runs.
func waitStored(t *testing.T, open func() ingestStore, nodes map[telemetry.NodeID]simChannel, n int) int {
	t.Helper()
	st := open()
	defer st.Close()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		total := 0
		for id := range nodes {
			node, err := st.GetNode(context.Background(), telemetry.Scope{All: true}, string(id))
			if err != nil {
				t.Fatal(err)
			}
			total += int(node.LastEntryID)
		}
		if total >= n {
			return total
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d readings stored, waiting for %d", total, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// verify compares each node's stored readings with the simulator's feed:
// entries 1..newest stored, each exactly once, with the same values.
func verify(t *testing.T, open func() ingestStore, simURL string, nodes map[telemetry.NodeID]simChannel) {
	t.Helper()
	client, err := thingspeak.New(thingspeak.Options{BaseURL: simURL})
	if err != nil {
		t.Fatal(err)
	}
	st := open()
	defer st.Close()
	for id, ch := range nodes {
		rows, err := st.Readings(context.Background(), id, telemetry.ReadingQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			t.Fatalf("node of channel %d stored nothing", ch.id)
		}
		newest := rows[len(rows)-1].EntryID
		if rows[0].EntryID != 1 || int64(len(rows)) != newest {
			t.Fatalf("channel %d: %d rows for entries %d..%d: an entry is missing or stored twice", ch.id, len(rows), rows[0].EntryID, newest)
		}
		feed, err := client.Feed(context.Background(), ch.id, ch.key, thingspeak.Query{Results: thingspeak.MaxResults})
		if err != nil {
			t.Fatal(err)
		}
		var upstream []telemetry.Entry
		for _, e := range feed.Entries {
			if e.EntryID <= newest {
				upstream = append(upstream, e)
			}
		}
		stored := make([]telemetry.Entry, len(rows))
		for i, r := range rows {
			stored[i] = r.Entry
		}
		if got, want := checksum(stored), checksum(upstream); got != want || len(upstream) != len(stored) {
			t.Fatalf("channel %d: stored %d entries (checksum %x), simulator has %d (checksum %x)", ch.id, len(stored), got[:6], len(upstream), want[:6])
		}
	}
}

func checksum(entries []telemetry.Entry) [32]byte {
	h := sha256.New()
	var buf [8]byte
	for _, e := range entries {
		enc.BigEndian.PutUint64(buf[:], uint64(e.EntryID))
		h.Write(buf[:])
		enc.BigEndian.PutUint64(buf[:], uint64(e.CreatedAt.Unix()))
		h.Write(buf[:])
		for _, f := range e.Fields {
			v := math.NaN()
			if f.Valid {
				v = f.Value
			}
			fmt.Fprintf(h, "%.6g|", v)
		}
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}
