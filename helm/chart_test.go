package helm_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir  = "evara"
	namespace = "evara-test"
)

// kubeVersion is the oldest Kubernetes the chart supports (Chart.yaml's
// kubeVersion): the linter flags APIs deprecated there.
var kubeVersion = &chartutil.KubeVersion{Version: "v1.30.0", Major: "1", Minor: "30"}

// valueSet is one way to install the chart and what it must then contain.
type valueSet struct {
	name    string
	release string // the release name; empty: "evara"
	values  string // YAML, as with `helm install -f`
	want    want
}

// want is what a value set changes; every check not named here applies to
// every value set.
type want struct {
	fullname       string
	hpa            bool
	serviceMonitor bool
	ingress        bool
	// existingSecret holds DATABASE_URL and EVARA_ENCRYPTION_KEY; empty:
	// "evara". optionalSecrets are the optional secret variables and the
	// Secret key each must come from; one not listed must be absent.
	existingSecret  string
	optionalSecrets map[string]corev1.SecretKeySelector
	resources       map[string]string // "requests.cpu": "500m", …; nil: the defaults
	httpFrom        []networkingv1.NetworkPolicyPeer
	env             map[string]string // plain variables with their values
	noJWTSecret     bool              // SUPABASE_JWT_SECRET left out (tokens verified through a JWKS URL)
}

// longRelease is as long as Helm allows a release name (53 characters);
// with nameOverride the full name would be 67 characters.
const longRelease = "evara-production-europe-west1-tenant-blue-canary-2026"

var valueSets = []valueSet{
	{
		name: "defaults",
		want: want{fullname: "evara", hpa: true},
	},
	{
		name:    "autoscaling off",
		release: "api",
		values:  "autoscaling: {enabled: false}\n",
		want:    want{fullname: "api-evara", hpa: false},
	},
	{
		name: "service monitor and ingress",
		values: `
serviceMonitor: {enabled: true, labels: {release: prometheus}}
ingress:
  enabled: true
  className: nginx
  annotations: {nginx.ingress.kubernetes.io/proxy-read-timeout: "3600"}
  hosts: [{host: api.evara.example, paths: [{path: /, pathType: Prefix}]}]
  tls: [{secretName: evara-tls, hosts: [api.evara.example]}]
`,
		want: want{fullname: "evara", hpa: true, serviceMonitor: true, ingress: true},
	},
	{
		name: "redis and jwt secrets",
		values: `
secrets:
  existingSecret: evara-prod
  jwtSecret: {name: "", key: jwt-secret}
  redisURL: {name: evara-redis, key: url}
`,
		want: want{fullname: "evara", hpa: true, existingSecret: "evara-prod", optionalSecrets: map[string]corev1.SecretKeySelector{
			"SUPABASE_JWT_SECRET": {LocalObjectReference: corev1.LocalObjectReference{Name: "evara-prod"}, Key: "jwt-secret"},
			"REDIS_URL":           {LocalObjectReference: corev1.LocalObjectReference{Name: "evara-redis"}, Key: "url"},
		}},
	},
	{
		name: "tokens from a JWKS URL only",
		values: `
secrets:
  jwtSecret: {name: "", key: ""}
config:
  extraEnv: {EVARA_JWKS_URL: "https://idp.example/auth/v1/.well-known/jwks.json"}
`,
		want: want{fullname: "evara", hpa: true, noJWTSecret: true,
			env: map[string]string{"EVARA_JWKS_URL": "https://idp.example/auth/v1/.well-known/jwks.json"}},
	},
	{
		name: "custom resources",
		values: `
resources:
  requests: {cpu: 500m, memory: 1Gi}
  limits: {cpu: 2, memory: 2Gi}
`,
		want: want{fullname: "evara", hpa: true, resources: map[string]string{
			"requests.cpu": "500m", "requests.memory": "1Gi", "limits.cpu": "2", "limits.memory": "2Gi",
		}},
	},
	{
		name:    "long release name",
		release: longRelease,
		values:  "nameOverride: evara-backend\n",
		want:    want{fullname: "evara-production-europe-west1-tenant-blue-canary-2026-evara-bac", hpa: true},
	},
	{
		name: "http peers and tuning",
		values: `
networkPolicy:
  httpFrom:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}
terminationGracePeriodSeconds: 60
preStopSleepSeconds: 0
config:
  shutdownTimeoutSeconds: 45
  upstreamRate: 12.5
  upstreamBurst: 4
  pollInterval: 30s
  thingspeakURL: https://thingspeak.internal.example
  extraEnv: {EVARA_THINGSPEAK_TIMEOUT: 5s}
`,
		want: want{
			fullname: "evara", hpa: true,
			httpFrom: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"},
			}}},
			env: map[string]string{
				"EVARA_SHUTDOWN_TIMEOUT": "45s", "EVARA_UPSTREAM_RATE": "12.5", "EVARA_UPSTREAM_BURST": "4",
				"EVARA_POLL_INTERVAL": "30s", "EVARA_THINGSPEAK_URL": "https://thingspeak.internal.example",
				"EVARA_THINGSPEAK_TIMEOUT": "5s",
			},
		},
	},
}

func TestChartRenders(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			m, err := render(t, vs.release, vs.values)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			checkNames(t, m, vs.want.fullname)
			checkRBAC(t, m)
			checkDeployment(t, m, vs.want)
			checkProbes(t, m)
			checkEnv(t, m, vs.want)
			checkSecurityContexts(t, m)
			checkServices(t, m)
			checkPDB(t, m)
			checkHPA(t, m, vs.want.hpa)
			checkNetworkPolicy(t, m, vs.want.httpFrom)
			checkMigrationsJob(t, m)
			checkServiceMonitor(t, m, vs.want.serviceMonitor)
			checkIngress(t, m, vs.want.ingress)
			checkNotes(t, m)
		})
	}
}

// TestChartLint runs Helm's linter as `helm lint --strict` does: a warning
// fails as an error would.
func TestChartLint(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			vals, err := chartutil.ReadValues([]byte(vs.values))
			if err != nil {
				t.Fatalf("values: %v", err)
			}
			result := lint.AllWithKubeVersion(chartDir, vals, namespace, kubeVersion)
			for _, msg := range result.Messages {
				if msg.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", msg)
				}
			}
		})
	}
}

// TestChartSchemaRejects checks that values a person could plausibly
// write by mistake fail `helm install` with a message naming the problem.
func TestChartSchemaRejects(t *testing.T) {
	tests := []struct {
		name, values, wantErr string
	}{
		{"unknown top-level key", "replicas: 5\n", "replicas"},
		{"unknown nested key", "autoscaling: {minReplica: 2}\n", "minReplica"},
		{"unknown key two levels down", "resources: {requests: {cpus: 2}}\n", "cpus"},
		{"secret value in values", "secrets: {databaseURL: {name: '', key: database-url, value: 'postgres://u:p@db/evara'}}\n", "'value'"},
		{"unknown key in a list item", "ingress: {hosts: [{host: a.example, paths: [{path: /, pathType: Prefix, service: x}]}]}\n", "'service'"},
		{"secret through extraEnv", "config: {extraEnv: {DATABASE_URL: 'postgres://u:p@db/evara'}}\n", "DATABASE_URL"},
		{"required secret key empty", "secrets: {encryptionKey: {name: '', key: ''}}\n", "encryptionKey"},
		{"cluster name not a label value", "config: {clusterName: 'evara cluster'}\n", "clusterName"},
		{"grace period below 30 s", "terminationGracePeriodSeconds: 20\n", "terminationGracePeriodSeconds"},
		{"shutdown not below the grace period", "config: {shutdownTimeoutSeconds: 36}\n", "terminationGracePeriodSeconds"},
		{"secret name missing", "secrets: {existingSecret: ''}\n", "DATABASE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render(t, "", tt.values)
			if err == nil {
				t.Fatalf("values %q rendered; want an error naming %q", tt.values, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("values %q: error %q does not name %q", tt.values, err, tt.wantErr)
			}
		})
	}
}

// TestChartSchemaClosed walks values.schema.json: every object it
// describes either lists its properties and refuses any other
// (additionalProperties: false) or is a map whose values it types.
func TestChartSchemaClosed(t *testing.T) {
	raw, err := os.ReadFile(path.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	if got := schema["$schema"]; got != "http://json-schema.org/draft-07/schema#" {
		t.Errorf("values.schema.json: $schema is %v, want draft-07", got)
	}
	walkSchema(t, "#", schema)
}

func walkSchema(t *testing.T, at string, s map[string]any) {
	t.Helper()
	_, isObject := s["properties"]
	if typ, _ := s["type"].(string); typ == "object" {
		isObject = true
	}
	if isObject {
		switch ap := s["additionalProperties"].(type) {
		case bool:
			if ap {
				t.Errorf("values.schema.json %s: additionalProperties is true", at)
			}
		case map[string]any:
			if _, ok := s["properties"]; ok {
				t.Errorf("values.schema.json %s: lists properties and admits others", at)
			}
		default:
			t.Errorf("values.schema.json %s: an object without additionalProperties", at)
		}
	}
	for _, key := range []string{"properties", "definitions"} {
		children, _ := s[key].(map[string]any)
		for _, name := range sortedKeys(children) {
			if child, ok := children[name].(map[string]any); ok {
				walkSchema(t, at+"/"+key+"/"+name, child)
			}
		}
	}
	for _, key := range []string{"items", "additionalProperties"} {
		if child, ok := s[key].(map[string]any); ok {
			walkSchema(t, at+"/"+key, child)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// manifests is one rendering of the chart: its objects in template order,
// each decoded into its API type, and NOTES.txt.
type manifests struct {
	release string
	objects []object
	notes   string
}

type object struct {
	source     string // the template it came from
	apiVersion string
	kind       string
	name       string
	value      any // *appsv1.Deployment, …; map[string]any for a ServiceMonitor
}

// render renders the chart as `helm install --dry-run` would, without a
// cluster, with strict templates (a reference to a missing value fails).
func render(t *testing.T, release, values string) (manifests, error) {
	t.Helper()
	if release == "" {
		release = "evara"
	}
	ch := loadChart(t)
	vals, err := chartutil.ReadValues([]byte(values))
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	opts := chartutil.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = *kubeVersion
	top, err := chartutil.ToRenderValues(ch, vals, opts, caps)
	if err != nil {
		return manifests{}, err
	}
	files, err := engine.Engine{Strict: true}.Render(ch, top)
	if err != nil {
		return manifests{}, err
	}
	m := manifests{release: release, notes: files[path.Join(ch.Name(), "templates", "NOTES.txt")]}
	for _, name := range sortedKeys(files) {
		if path.Ext(name) != ".yaml" {
			continue
		}
		objs, err := decodeAll(name, files[name])
		if err != nil {
			t.Fatal(err)
		}
		m.objects = append(m.objects, objs...)
	}
	return m, nil
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return ch
}

// kinds are the objects the chart may render, by apiVersion and kind; any
// other fails the test. The ServiceMonitor's type lives outside k8s.io/api.
var kinds = map[string]func() any{
	"apps/v1 Deployment":                       func() any { return new(appsv1.Deployment) },
	"v1 Service":                               func() any { return new(corev1.Service) },
	"v1 ServiceAccount":                        func() any { return new(corev1.ServiceAccount) },
	"rbac.authorization.k8s.io/v1 Role":        func() any { return new(rbacv1.Role) },
	"rbac.authorization.k8s.io/v1 RoleBinding": func() any { return new(rbacv1.RoleBinding) },
	"autoscaling/v2 HorizontalPodAutoscaler":   func() any { return new(autoscalingv2.HorizontalPodAutoscaler) },
	"policy/v1 PodDisruptionBudget":            func() any { return new(policyv1.PodDisruptionBudget) },
	"networking.k8s.io/v1 NetworkPolicy":       func() any { return new(networkingv1.NetworkPolicy) },
	"networking.k8s.io/v1 Ingress":             func() any { return new(networkingv1.Ingress) },
	"batch/v1 Job":                             func() any { return new(batchv1.Job) },
	"monitoring.coreos.com/v1 ServiceMonitor":  func() any { return new(map[string]any) },
}

// decodeAll splits a rendered template into documents and decodes each
// strictly: a duplicate key, a field the API type does not have or a kind
// the chart is not expected to render is an error.
func decodeAll(source, rendered string) ([]object, error) {
	var objs []object
	docs := releaseutil.SplitManifests(rendered)
	for _, key := range sortedKeys(docs) {
		doc := docs[key]
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		raw, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		newValue, ok := kinds[meta.APIVersion+" "+meta.Kind]
		if !ok {
			return nil, fmt.Errorf("%s: unexpected object %s %s %q", source, meta.APIVersion, meta.Kind, meta.Metadata.Name)
		}
		v := newValue()
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return nil, fmt.Errorf("%s: %s %q: %w", source, meta.Kind, meta.Metadata.Name, err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %s %q: trailing data", source, meta.Kind, meta.Metadata.Name)
		}
		if p, ok := v.(*map[string]any); ok {
			v = *p
		}
		objs = append(objs, object{source: source, apiVersion: meta.APIVersion, kind: meta.Kind, name: meta.Metadata.Name, value: v})
	}
	return objs, nil
}

// stripComments drops comment lines: a document of comments only (an
// optional object that is off) is no object.
func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// all returns the objects of type T; only the one object of type T.
func all[T any](m manifests) []*T {
	var out []*T
	for _, o := range m.objects {
		if v, ok := o.value.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

func only[T any](t *testing.T, m manifests, what string) *T {
	t.Helper()
	objs := all[T](m)
	if len(objs) != 1 {
		t.Fatalf("want exactly one %s, got %d", what, len(objs))
	}
	return objs[0]
}
