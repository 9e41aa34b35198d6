package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evaratech/evara/api"
	"github.com/evaratech/evara/api/auth"
	"github.com/evaratech/evara/internal/config"
	"github.com/evaratech/evara/internal/keyring"
	"github.com/evaratech/evara/internal/telemetry"
	"github.com/evaratech/evara/internal/thingspeak/sim"
	"github.com/evaratech/evara/persistence/storetest"
)

var updateGolden = flag.Bool("update", false, "rewrite the API's golden files under testdata/api")

// apiTestSecret signs the tokens of API tests.
const apiTestSecret = "api-test-secret-0123456789abcdef0123456789"

// apiEnv is the API as serve wires it — the PostgreSQL store in a schema
// of the test's own, the device runtime polling a simulator, the server on
// a loopback port — with a fixture of two tenants.
type apiEnv struct {
	t      testing.TB
	URL    string // http://127.0.0.1:port
	store  store
	keys   *keyring.Keyring
	sim    *sim.Simulator
	cfg    config.Config
	client *http.Client
	fx     fixture
	routes []api.Route // the server's route table
	rt     *deviceRuntime
}

// fixture is two distributors, each with one community; community A has two
// customers, nodes with and without channels, and one user per role.
type fixture struct {
	DistA, DistB         telemetry.Distributor
	CommA, CommB         telemetry.Community
	CustA, CustA2, CustB telemetry.Customer
	// NodeA (customer CustA) and NodeB (community B) poll simulator
	// channels; NodeA2 (community A, no customer) has no channel.
	NodeA, NodeA2, NodeB telemetry.Node
	// Users: tokens by role name, and a second of each in tenant B.
	Tokens  map[string]string // "superadmin", "distributor", "community_admin", "customer", "customer_b", "community_admin_b", "distributor_b", "nobody"
	Profile map[string]telemetry.UserProfile
}

// apiEnvOption adjusts the configuration before the server starts.
type apiEnvOption func(*config.Config)

// withAnomalies turns the devices' anomaly alerts on (the default 3
// deviations), off in the test environment otherwise.
func withAnomalies(c *config.Config) { c.Anomaly.Z = config.Default().Anomaly.Z }

// newAPIEnv starts the stack; everything stops when the test ends.
func newAPIEnv(t testing.TB, opts ...apiEnvOption) *apiEnv {
	t.Helper()
	ctx, log := context.Background(), slog.New(slog.DiscardHandler)
	if testing.Verbose() && os.Getenv("EVARA_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	dbURL := storetest.FreshSchema(t)
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.PollInterval = time.Second
	cfg.UpstreamRate, cfg.UpstreamBurst = 100, 10
	cfg.API.Audience = auth.DefaultAudience
	cfg.API.UserRate, cfg.API.AnonRate, cfg.API.BodyLimit = 100_000, 100_000, 1<<20
	cfg.DatabaseURL, cfg.JWTSecret = config.Secret(dbURL), config.Secret(apiTestSecret)
	// The fixture's devices poll the simulator's natural signals, which now
	// and then lie 3 deviations from their mean: anomaly alerts would come
	// and go under tests that count alerts. Tests of anomalies turn them on
	// (withAnomalies).
	cfg.Anomaly.Z = 0
	for _, o := range opts {
		o(&cfg)
	}
	// Three channels, unless an option asks for another number.
	channels := 3
	if cfg.Sim.Channels != config.Default().Sim.Channels {
		channels = cfg.Sim.Channels
	}
	s, err := sim.New(sim.Options{Channels: channels, Period: time.Second, History: 30, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	simSrv, err := sim.Start("127.0.0.1:0", s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = simSrv.Close(context.Background()) })
	kr, err := keyring.Parse(keySpec("k1", 3))
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := openStore(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	env := &apiEnv{t: t, store: st, keys: kr, sim: s, cfg: cfg, client: &http.Client{Timeout: 30 * time.Second}}
	env.fx = env.seed(ctx)

	var stack shutdownStack
	stack.push("store", st.Close)
	reg := newRegistry() // as serve has it: /metrics answers
	rt, err := startRuntime(runtimeDeps{cfg: cfg, store: st, keys: kr, upstream: simSrv.URL, metrics: reg, log: log})
	if err != nil {
		t.Fatal(err)
	}
	stack.push("actors", rt.stop)
	env.rt = rt
	srv, err := buildAPI(ctx, apiDeps{cfg: cfg, store: st, keys: kr, runtime: rt, upstream: simSrv.URL, log: log, metrics: reg,
		health: &healthReporter{database: "postgres"}})
	if err != nil {
		t.Fatal(err)
	}
	stack.push("api", srv.close)
	env.routes = srv.Routes()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stack.push("http", func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		return errors.Join(err, <-served)
	})
	t.Cleanup(func() {
		env.client.CloseIdleConnections()
		if err := stack.close(20*time.Second, log); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	env.URL = "http://" + ln.Addr().String()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		// Serving before the test goes on: a Shutdown that comes before
		// Serve starts would leave Serve running.
		if resp, err := env.client.Get(env.URL + "/healthz"); err == nil {
			_ = resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the API does not serve")
		}
	}
	return env
}

// token mints a token for sub with the test secret.
func (e *apiEnv) token(sub, email string) string {
	e.t.Helper()
	tok, err := auth.Mint([]byte(apiTestSecret), auth.MintOptions{Subject: sub, Email: email, TTL: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// user creates a profile with a role and scope and returns its token.
func (e *apiEnv) user(ctx context.Context, sub string, role telemetry.Role, distributorID, communityID string) (string, telemetry.UserProfile) {
	e.t.Helper()
	email := sub + "@example.com"
	if _, _, err := e.store.SyncProfile(ctx, sub, email, sub); err != nil {
		e.t.Fatal(err)
	}
	_, p, err := e.store.SetRole(ctx, sub, role, distributorID, communityID)
	if err != nil {
		e.t.Fatalf("role of %s: %v", sub, err)
	}
	return e.token(sub, email), p
}

func (e *apiEnv) seed(ctx context.Context) fixture {
	t := e.t
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	fx := fixture{Tokens: map[string]string{}, Profile: map[string]telemetry.UserProfile{}}
	fx.DistA, fx.DistB = telemetry.Distributor{Name: "Aqua Distribution"}, telemetry.Distributor{Name: "Blue Water Co"}
	distributors, ok := e.store.(interface {
		CreateDistributor(context.Context, *telemetry.Distributor) error
	})
	if !ok {
		t.Fatal("the store creates no distributors")
	}
	must(distributors.CreateDistributor(ctx, &fx.DistA))
	must(distributors.CreateDistributor(ctx, &fx.DistB))
	city := "Hyderabad"
	fx.CommA = telemetry.Community{Name: "Green Meadows", City: &city, DistributorID: &fx.DistA.ID}
	fx.CommB = telemetry.Community{Name: "Blue Lagoon", City: &city, DistributorID: &fx.DistB.ID}
	must(e.store.CreateCommunity(ctx, &fx.CommA))
	must(e.store.CreateCommunity(ctx, &fx.CommB))

	for _, u := range []struct {
		name       string
		role       telemetry.Role
		dist, comm string
	}{
		{"superadmin", telemetry.RoleSuperadmin, "", ""},
		{"distributor", telemetry.RoleDistributor, fx.DistA.ID, ""},
		{"community_admin", telemetry.RoleCommunityAdmin, "", fx.CommA.ID},
		{"customer", telemetry.RoleCustomer, "", ""},
		{"customer_a2", telemetry.RoleCustomer, "", ""},
		{"distributor_b", telemetry.RoleDistributor, fx.DistB.ID, ""},
		{"community_admin_b", telemetry.RoleCommunityAdmin, "", fx.CommB.ID},
		{"customer_b", telemetry.RoleCustomer, "", ""},
		{"nobody", telemetry.RoleCustomer, "", ""}, // a login linked to no customer: sees nothing
	} {
		fx.Tokens[u.name], fx.Profile[u.name] = e.user(ctx, "user-"+strings.ReplaceAll(u.name, "_", "-"), u.role, u.dist, u.comm)
	}
	link := func(c *telemetry.Customer, name string, comm *telemetry.Community, login string) {
		id := fx.Profile[login].ID
		*c = telemetry.Customer{FullName: name, Email: ptrTo(login + "@example.com"), CommunityID: &comm.ID, UserID: &id}
		must(e.store.CreateCustomer(ctx, c))
	}
	link(&fx.CustA, "Asha Rao", &fx.CommA, "customer")
	link(&fx.CustA2, "Arjun Mehta", &fx.CommA, "customer_a2")
	link(&fx.CustB, "Bala Iyer", &fx.CommB, "customer_b")

	ch := e.sim.Channels()
	fx.NodeA = e.node(ctx, "tank-a1", "OHT", "EvaraTank", &fx.CommA, &fx.CustA, &ch[0])
	fx.NodeA2 = e.node(ctx, "sump-a2", "Sump", "EvaraTank", &fx.CommA, nil, nil)
	fx.NodeB = e.node(ctx, "tank-b1", "OHT", "EvaraTank", &fx.CommB, &fx.CustB, &ch[1])
	return fx
}

// node provisions a node through the store, its key sealed as the API does.
func (e *apiEnv) node(ctx context.Context, key, category, analytics string, comm *telemetry.Community, cust *telemetry.Customer, ch *sim.ChannelSpec) telemetry.Node {
	e.t.Helper()
	id := telemetry.NodeID(uuid.Must(uuid.NewV7()).String())
	lat, lng, capacity := 17.385, 78.4867, 5000.0
	n := telemetry.Node{ID: id, NodeKey: key, Label: "Node " + key, Category: category, AnalyticsType: analytics,
		LocationName: ptrTo("Block " + key), Lat: &lat, Lng: &lng, Capacity: &capacity,
		FieldMapping: map[string]string{"field1": "water_level", "field2": "temperature"},
		CommunityID:  &comm.ID, DistributorID: comm.DistributorID}
	if cust != nil {
		n.CustomerID = &cust.ID
	}
	if ch != nil {
		keyID, sealed, err := e.keys.Seal([]byte(ch.ReadKey), []byte(id))
		if err != nil {
			e.t.Fatal(err)
		}
		n.ChannelID, n.ChannelKey = ch.ID, telemetry.SealedSecret{KeyID: keyID, Ciphertext: sealed}
	}
	if err := e.store.CreateNode(ctx, &n); err != nil {
		e.t.Fatalf("node %s: %v", key, err)
	}
	got, err := e.store.GetNode(ctx, telemetry.Scope{All: true}, string(id))
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

func ptrTo[T any](v T) *T { return &v }

// mustJSON decodes an answer, failing the test when it is not JSON.
func mustJSON(t testing.TB, raw []byte, dst any) {
	t.Helper()
	if err := json.Unmarshal(raw, dst); err != nil {
		t.Fatalf("not JSON: %v: %s", err, raw)
	}
}

// do sends a request with a bearer token ("" for none) and a JSON body
// (nil for none; a []byte or string is sent as is).
func (e *apiEnv) do(method, path, token string, body any) (*http.Response, []byte) {
	e.t.Helper()
	resp, raw, err := e.try(method, path, token, body)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp, raw
}

// try is do that returns its errors instead of failing the test: it never
// touches e.t, so a fuzz target may call it.
func (e *apiEnv) try(method, path, token string, body any) (*http.Response, []byte, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return nil, nil, err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.URL+path, r)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp, raw, err
}

// expect sends a request and fails the test unless it answers status.
func (e *apiEnv) expect(status int, method, path, token string, body any) []byte {
	e.t.Helper()
	resp, raw := e.do(method, path, token, body)
	if resp.StatusCode != status {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, status, raw)
	}
	return raw
}

var (
	goldenUUID = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	goldenTime = regexp.MustCompile(`"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})"`)
)

// golden compares a JSON answer with testdata/api/<name>.json after
// normalising what changes between runs: UUIDs become <id-1>, <id-2>… in
// order of first appearance, timestamps "<time>", and the fields named in
// volatile (at any depth) "<volatile>". `go test -update` rewrites the file.
func golden(t testing.TB, name string, raw []byte, volatile ...string) {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: not JSON: %v: %s", name, err, raw)
	}
	v = maskFields(v, volatile)
	pretty, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	out := goldenUUID.ReplaceAllStringFunc(string(pretty), func(id string) string {
		if _, ok := ids[id]; !ok {
			ids[id] = "<id-" + strconv.Itoa(len(ids)+1) + ">"
		}
		return ids[id]
	})
	out = goldenTime.ReplaceAllString(out, `"<time>"`) + "\n"
	path := filepath.Join("testdata", "api", name+".json")
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v (run go test -update to create it)", name, err)
	}
	if string(want) != out {
		t.Errorf("%s differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, path, out, want)
	}
}

func maskFields(v any, names []string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			masked := false
			for _, n := range names {
				if k == n && val != nil {
					x[k], masked = "<volatile>", true
				}
			}
			if !masked {
				x[k] = maskFields(val, names)
			}
		}
	case []any:
		for i := range x {
			x[i] = maskFields(x[i], names)
		}
	}
	return v
}
