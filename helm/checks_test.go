package helm_test

// One check per concern of the deployment; each names the object and the
// field it finds wrong. The container environment's checks are in
// env_test.go; the Services', PodDisruptionBudget's, HPA's and
// NetworkPolicy's in network_test.go.

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

const (
	httpPort     = 8080
	remotingPort = 7101
	nonRootID    = 65532 // the distroless image's nonroot user and group
)

// secretVars may only come from a Secret, under any of their names.
func deployment(t *testing.T, m manifests) *appsv1.Deployment {
	t.Helper()
	return only[appsv1.Deployment](t, m, "Deployment")
}

// server is the evara container of the Deployment.
func server(t *testing.T, m manifests) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	dep := deployment(t, m)
	cs := dep.Spec.Template.Spec.Containers
	if len(cs) != 1 || cs[0].Name != "evara" {
		t.Fatalf("Deployment %s: spec.template.spec.containers: want one container named evara, got %d", dep.Name, len(cs))
	}
	return dep, cs[0]
}

func selector(t *testing.T, m manifests) map[string]string {
	t.Helper()
	dep := deployment(t, m)
	if dep.Spec.Selector == nil || len(dep.Spec.Selector.MatchExpressions) > 0 {
		t.Fatalf("Deployment %s: spec.selector: want matchLabels only", dep.Name)
	}
	return dep.Spec.Selector.MatchLabels
}

// checkNames: names fit their kinds (63 characters where they become DNS
// labels or label values), no two objects of a kind share a name, and
// every label value is valid.
func checkNames(t *testing.T, m manifests, fullname string) {
	t.Helper()
	if dep := deployment(t, m); dep.Name != fullname {
		t.Errorf("Deployment: metadata.name = %q, want %q", dep.Name, fullname)
	}
	seen := map[string]bool{}
	for _, o := range m.objects {
		id := o.kind + "/" + o.name
		if seen[id] {
			t.Errorf("%s: rendered twice", id)
		}
		seen[id] = true
		var problems []string
		switch o.kind {
		case "Service", "Job": // a DNS label; a Job's name is also a label value of its pods
			problems = validation.IsDNS1123Label(o.name)
		default:
			problems = validation.IsDNS1123Subdomain(o.name)
		}
		for _, p := range problems {
			t.Errorf("%s: metadata.name %q: %s", id, o.name, p)
		}
		for field, labels := range labelsOf(o) {
			for k, v := range labels {
				for _, p := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
					t.Errorf("%s: %s %s=%q: %s", id, field, k, v, p)
				}
			}
		}
	}
	sel := selector(t, m)
	if sel["app.kubernetes.io/name"] == "" || sel["app.kubernetes.io/instance"] != m.release || len(sel) != 2 {
		t.Errorf("Deployment: spec.selector.matchLabels = %v, want app.kubernetes.io/name and app.kubernetes.io/instance=%s only", sel, m.release)
	}
}

// labelsOf returns the label sets of an object by field path.
func labelsOf(o object) map[string]map[string]string {
	out := map[string]map[string]string{}
	if obj, ok := o.value.(metav1.Object); ok {
		out["metadata.labels"] = obj.GetLabels()
	}
	switch v := o.value.(type) {
	case *appsv1.Deployment:
		out["spec.template.metadata.labels"] = v.Spec.Template.Labels
	case *batchv1.Job:
		out["spec.template.metadata.labels"] = v.Spec.Template.Labels
	case map[string]any:
		if labels, ok := nested(v, "metadata", "labels").(map[string]any); ok {
			out["metadata.labels"] = stringMap(labels)
		}
	}
	return out
}

// checkRBAC: the Kubernetes provider's Role is exactly get, list, watch and
// patch on pods, bound to the members' ServiceAccount.
func checkRBAC(t *testing.T, m manifests) {
	t.Helper()
	role := only[rbacv1.Role](t, m, "Role")
	wantRule := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "patch", "watch"}}
	var got []rbacv1.PolicyRule
	for _, r := range role.Rules {
		r.Verbs = slices.Sorted(slices.Values(r.Verbs))
		got = append(got, r)
	}
	if diff := cmp.Diff([]rbacv1.PolicyRule{wantRule}, got); diff != "" {
		t.Errorf("Role %s: rules (-want +got):\n%s", role.Name, diff)
	}
	sa := only[corev1.ServiceAccount](t, m, "ServiceAccount")
	rb := only[rbacv1.RoleBinding](t, m, "RoleBinding")
	if want := (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name}); rb.RoleRef != want {
		t.Errorf("RoleBinding %s: roleRef = %+v, want %+v", rb.Name, rb.RoleRef, want)
	}
	wantSubjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: namespace}}
	if diff := cmp.Diff(wantSubjects, rb.Subjects); diff != "" {
		t.Errorf("RoleBinding %s: subjects (-want +got):\n%s", rb.Name, diff)
	}
	pod := deployment(t, m).Spec.Template.Spec
	if pod.ServiceAccountName != sa.Name {
		t.Errorf("Deployment: spec.template.spec.serviceAccountName = %q, want the ServiceAccount %q", pod.ServiceAccountName, sa.Name)
	}
	if pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
		t.Errorf("Deployment: spec.template.spec.automountServiceAccountToken must be true (the provider reads the token)")
	}
	if sa.AutomountServiceAccountToken != nil && !*sa.AutomountServiceAccountToken {
		t.Errorf("ServiceAccount %s: automountServiceAccountToken is false", sa.Name)
	}
}

// checkDeployment: replicas, rolling update without unavailability, grace
// period, ports, resources and the command.
func checkDeployment(t *testing.T, m manifests, w want) {
	t.Helper()
	dep, c := server(t, m)
	// A new release starts with 3 members, with or without the HPA (which
	// then owns the count: an upgrade keeps what it scaled to, through
	// lookup, which is empty when rendering offline).
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 3 {
		t.Errorf("Deployment %s: spec.replicas = %v, want 3", dep.Name, dep.Spec.Replicas)
	}
	s := dep.Spec.Strategy
	if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil || s.RollingUpdate.MaxUnavailable == nil {
		t.Errorf("Deployment %s: spec.strategy = %+v, want RollingUpdate with maxUnavailable 0", dep.Name, s)
	} else if n, err := intstr.GetScaledValueFromIntOrPercent(s.RollingUpdate.MaxUnavailable, 10, true); err != nil || n != 0 {
		t.Errorf("Deployment %s: spec.strategy.rollingUpdate.maxUnavailable = %s, want 0", dep.Name, s.RollingUpdate.MaxUnavailable.String())
	}
	if g := dep.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g < 30 {
		t.Errorf("Deployment %s: spec.template.spec.terminationGracePeriodSeconds = %v, want at least 30", dep.Name, g)
	}
	podLabels := dep.Spec.Template.Labels
	for k, v := range selector(t, m) {
		if podLabels[k] != v {
			t.Errorf("Deployment %s: spec.template.metadata.labels[%s] = %q, want %q (the selector)", dep.Name, k, podLabels[k], v)
		}
	}
	for _, k := range []string{"app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart"} {
		if podLabels[k] == "" {
			t.Errorf("Deployment %s: spec.template.metadata.labels has no %s", dep.Name, k)
		}
	}
	if got := strings.Join(append(c.Command, c.Args...), " "); got != "/evara serve" {
		t.Errorf("Deployment %s: container evara runs %q, want \"/evara serve\"", dep.Name, got)
	}
	wantPorts := []corev1.ContainerPort{
		{Name: "http", ContainerPort: httpPort, Protocol: corev1.ProtocolTCP},
		{Name: "remoting", ContainerPort: remotingPort, Protocol: corev1.ProtocolTCP},
	}
	if diff := cmp.Diff(wantPorts, c.Ports); diff != "" {
		t.Errorf("Deployment %s: container evara ports (-want +got):\n%s", dep.Name, diff)
	}
	checkResources(t, dep.Name, c.Resources, w.resources)
}

func checkResources(t *testing.T, name string, got corev1.ResourceRequirements, want map[string]string) {
	t.Helper()
	if want == nil { // the defaults: the HPA's utilization is relative to the requests
		want = map[string]string{"requests.cpu": "250m", "requests.memory": "256Mi", "limits.cpu": "1", "limits.memory": "512Mi"}
	}
	for _, key := range sortedKeys(want) {
		list := got.Requests
		if strings.HasPrefix(key, "limits.") {
			list = got.Limits
		}
		q, ok := list[corev1.ResourceName(key[strings.Index(key, ".")+1:])]
		if !ok || q.Cmp(resource.MustParse(want[key])) != 0 {
			t.Errorf("Deployment %s: container evara resources.%s = %s, want %s", name, key, q.String(), want[key])
		}
	}
}

// checkProbes: liveness /healthz, readiness /readyz, both on the HTTP port.
func checkProbes(t *testing.T, m manifests) {
	t.Helper()
	dep, c := server(t, m)
	probes := []struct {
		field string
		probe *corev1.Probe
		path  string
	}{
		{"livenessProbe", c.LivenessProbe, "/healthz"},
		{"readinessProbe", c.ReadinessProbe, "/readyz"},
		{"startupProbe", c.StartupProbe, "/healthz"},
	}
	for _, p := range probes {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("Deployment %s: container evara %s: want an httpGet probe", dep.Name, p.field)
			continue
		}
		get := p.probe.HTTPGet
		if get.Path != p.path || containerPort(c, get.Port) != httpPort {
			t.Errorf("Deployment %s: container evara %s.httpGet = %s port %s, want %s on port %d", dep.Name, p.field, get.Path, get.Port.String(), p.path, httpPort)
		}
	}
}

// containerPort resolves a port given by number or by name.
func containerPort(c corev1.Container, port intstr.IntOrString) int32 {
	if port.Type == intstr.Int {
		return port.IntVal
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return p.ContainerPort
		}
	}
	return 0
}

// envOf returns a container's variables by name and fails on a name that
// appears twice (the later one would silently win).
// checkSecurityContexts: non-root 65532, read-only root, no escalation, no
// capabilities, RuntimeDefault seccomp; for the members and the Job.
func checkSecurityContexts(t *testing.T, m manifests) {
	t.Helper()
	dep := deployment(t, m)
	checkPodSecurity(t, "Deployment "+dep.Name, dep.Spec.Template.Spec)
	for _, job := range all[batchv1.Job](m) {
		checkPodSecurity(t, "Job "+job.Name, job.Spec.Template.Spec)
	}
}

func checkPodSecurity(t *testing.T, where string, pod corev1.PodSpec) {
	t.Helper()
	want := &corev1.PodSecurityContext{
		RunAsNonRoot: ptr(true), RunAsUser: ptr[int64](nonRootID), RunAsGroup: ptr[int64](nonRootID), FSGroup: ptr[int64](nonRootID),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if diff := cmp.Diff(want, pod.SecurityContext); diff != "" {
		t.Errorf("%s: spec.template.spec.securityContext (-want +got):\n%s", where, diff)
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Errorf("%s: shares a host namespace", where)
	}
	wantContainer := &corev1.SecurityContext{
		RunAsNonRoot: ptr(true), RunAsUser: ptr[int64](nonRootID), RunAsGroup: ptr[int64](nonRootID),
		ReadOnlyRootFilesystem: ptr(true), AllowPrivilegeEscalation: ptr(false), Privileged: ptr(false),
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		if diff := cmp.Diff(wantContainer, c.SecurityContext); diff != "" {
			t.Errorf("%s: container %s securityContext (-want +got):\n%s", where, c.Name, diff)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// checkMigrationsJob: `evara migrate up` as a pre-install/pre-upgrade hook,
// deleted before the next one and on success, with DATABASE_URL from the
// members' Secret.
func checkMigrationsJob(t *testing.T, m manifests) {
	t.Helper()
	job := only[batchv1.Job](t, m, "Job")
	hooks := map[string][]string{
		"helm.sh/hook":               {"pre-install", "pre-upgrade"},
		"helm.sh/hook-delete-policy": {"before-hook-creation", "hook-succeeded"},
	}
	for key, want := range hooks {
		got := strings.Split(strings.ReplaceAll(job.Annotations[key], " ", ""), ",")
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Errorf("Job %s: metadata.annotations[%s] = %q, want %s", job.Name, key, job.Annotations[key], strings.Join(want, ","))
		}
	}
	pod := job.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("Job %s: spec.template.spec.restartPolicy = %s, want Never", job.Name, pod.RestartPolicy)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("Job %s: want one container, got %d", job.Name, len(pod.Containers))
	}
	c := pod.Containers[0]
	if got := strings.Join(append(c.Command, c.Args...), " "); got != "/evara migrate up" {
		t.Errorf("Job %s: container %s runs %q, want \"/evara migrate up\"", job.Name, c.Name, got)
	}
	_, member := server(t, m)
	if c.Image != member.Image {
		t.Errorf("Job %s: image %q, want the members' %q", job.Name, c.Image, member.Image)
	}
	where := "Job " + job.Name + ": container " + c.Name
	env, serverEnv := envOf(t, where, c), envOf(t, "Deployment", member)
	want := map[string]corev1.SecretKeySelector{}
	for _, name := range []string{"DATABASE_URL", "EVARA_ENCRYPTION_KEY"} {
		if e := serverEnv[name]; e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			want[name] = *e.ValueFrom.SecretKeyRef
		}
	}
	checkSecretEnv(t, where, env, want)
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("Job %s: spec.template.spec.automountServiceAccountToken: want false (it never calls the API)", job.Name)
	}
}

// checkServiceMonitor: off by default; when on, it scrapes /metrics on the
// http port of the HTTP Service only.
func checkServiceMonitor(t *testing.T, m manifests, enabled bool) {
	t.Helper()
	var monitors []map[string]any
	for _, o := range m.objects {
		if o.kind == "ServiceMonitor" {
			monitors = append(monitors, o.value.(map[string]any))
		}
	}
	if !enabled {
		if len(monitors) != 0 {
			t.Errorf("ServiceMonitor rendered while serviceMonitor.enabled is false")
		}
		return
	}
	if len(monitors) != 1 {
		t.Fatalf("want one ServiceMonitor, got %d", len(monitors))
	}
	sm := monitors[0]
	name, _ := nested(sm, "metadata", "name").(string)
	matchLabels, _ := nested(sm, "spec", "selector", "matchLabels").(map[string]any)
	if !selects(stringMap(matchLabels), httpService(t, m).Labels) || selects(stringMap(matchLabels), headlessService(t, m).Labels) {
		t.Errorf("ServiceMonitor %s: spec.selector.matchLabels = %v, want the HTTP Service and not the headless one", name, matchLabels)
	}
	endpoints, _ := nested(sm, "spec", "endpoints").([]any)
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor %s: spec.endpoints: want 1, got %d", name, len(endpoints))
	}
	ep, _ := endpoints[0].(map[string]any)
	if ep["port"] != "http" || ep["path"] != "/metrics" {
		t.Errorf("ServiceMonitor %s: spec.endpoints[0] = port %v path %v, want port http path /metrics", name, ep["port"], ep["path"])
	}
}

// checkIngress: off by default; when on, every path goes to the HTTP
// Service's http port.
func checkIngress(t *testing.T, m manifests, enabled bool) {
	t.Helper()
	ingresses := all[networkingv1.Ingress](m)
	if !enabled {
		if len(ingresses) != 0 {
			t.Errorf("Ingress %s rendered while ingress.enabled is false", ingresses[0].Name)
		}
		return
	}
	ing := only[networkingv1.Ingress](t, m, "Ingress")
	svc := httpService(t, m)
	if len(ing.Spec.Rules) == 0 {
		t.Errorf("Ingress %s: spec.rules is empty", ing.Name)
	}
	for i, rule := range ing.Spec.Rules {
		if rule.HTTP == nil || len(rule.HTTP.Paths) == 0 {
			t.Errorf("Ingress %s: spec.rules[%d].http has no paths", ing.Name, i)
			continue
		}
		for j, p := range rule.HTTP.Paths {
			b := p.Backend.Service
			if b == nil || b.Name != svc.Name || (b.Port.Name != "http" && b.Port.Number != svc.Spec.Ports[0].Port) {
				t.Errorf("Ingress %s: spec.rules[%d].http.paths[%d].backend = %+v, want Service %s port http", ing.Name, i, j, p.Backend, svc.Name)
			}
		}
	}
}

// checkNotes: NOTES.txt says how to reach the API and how to read the
// cluster's stats, which answer on loopback only.
func checkNotes(t *testing.T, m manifests) {
	t.Helper()
	for _, want := range []string{
		"kubectl -n " + namespace + " port-forward",
		"evara cluster status --url http://127.0.0.1:8080",
		"curl http://127.0.0.1:8080/api/v1/cluster/stats",
		"loopback",
	} {
		if !strings.Contains(m.notes, want) {
			t.Errorf("NOTES.txt does not contain %q:\n%s", want, m.notes)
		}
	}
}

func nested(v map[string]any, keys ...string) any {
	var cur any = v
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func stringMap(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, _ := v.(string)
		out[k] = s
	}
	return out
}

// selects reports whether matchLabels match a label set.
func selects(matchLabels, labels map[string]string) bool {
	if len(matchLabels) == 0 {
		return false
	}
	for k, v := range matchLabels {
		if labels[k] != v {
			return false
		}
	}
	return true
}
