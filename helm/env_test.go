package helm_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

var secretVars = []string{
	"DATABASE_URL", "EVARA_DATABASE_URL", "EVARA_ENCRYPTION_KEY",
	"SUPABASE_JWT_SECRET", "EVARA_JWT_SECRET", "REDIS_URL", "EVARA_REDIS_URL",
}

// optionalVars are left to the binary's defaults unless a value set gives them.
var optionalVars = []string{
	"EVARA_UPSTREAM_RATE", "EVARA_UPSTREAM_BURST", "EVARA_POLL_INTERVAL", "EVARA_THINGSPEAK_URL",
}

func envOf(t *testing.T, where string, c corev1.Container) map[string]corev1.EnvVar {
	t.Helper()
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("%s: env %s is set twice", where, e.Name)
		}
		env[e.Name] = e
	}
	if len(c.EnvFrom) > 0 {
		t.Errorf("%s: envFrom imports unnamed variables; want every variable by name", where)
	}
	return env
}

// checkEnv: plain settings, downward API, secrets by reference only, and a
// shutdown that ends before the kubelet's SIGKILL.
func checkEnv(t *testing.T, m manifests, w want) {
	t.Helper()
	dep, c := server(t, m)
	where := "Deployment " + dep.Name + ": container evara"
	env := envOf(t, where, c)
	plain := map[string]string{
		"EVARA_ENV": "production", "EVARA_HTTP_ADDR": ":8080", "EVARA_LOG_FORMAT": "json",
		"EVARA_CLUSTER_PROVIDER": "kubernetes", "EVARA_CLUSTER_ADVERTISE": "$(POD_IP):7101",
	}
	for k, v := range w.env {
		plain[k] = v
	}
	for _, k := range sortedKeys(plain) {
		if e := env[k]; e.Value != plain[k] || e.ValueFrom != nil {
			t.Errorf("%s: env %s = %q, want %q", where, k, e.Value, plain[k])
		}
	}
	for _, k := range optionalVars {
		if _, given := w.env[k]; !given {
			if e, ok := env[k]; ok {
				t.Errorf("%s: env %s = %q, want it unset (the binary's default)", where, k, e.Value)
			}
		}
	}
	checkClusterName(t, where, env, w.fullname)
	checkDownwardAPI(t, where, c)
	secret := w.existingSecret
	if secret == "" {
		secret = "evara"
	}
	wantSecrets := map[string]corev1.SecretKeySelector{
		"DATABASE_URL":         {LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "database-url"},
		"EVARA_ENCRYPTION_KEY": {LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "encryption-key"},
		// Production refuses to start without a way to verify tokens.
		"SUPABASE_JWT_SECRET": {LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "jwt-secret"},
	}
	if w.noJWTSecret {
		delete(wantSecrets, "SUPABASE_JWT_SECRET")
	}
	for k, v := range w.optionalSecrets {
		wantSecrets[k] = v
	}
	checkSecretEnv(t, where, env, wantSecrets)
	checkShutdown(t, dep, c, env)
}

func checkClusterName(t *testing.T, where string, env map[string]corev1.EnvVar, fullname string) {
	t.Helper()
	name := env["EVARA_CLUSTER_NAME"].Value
	if name != fullname {
		t.Errorf("%s: env EVARA_CLUSTER_NAME = %q, want the full name %q", where, name, fullname)
	}
	for _, p := range validation.IsValidLabelValue(name) {
		t.Errorf("%s: env EVARA_CLUSTER_NAME = %q is not a label value: %s", where, name, p)
	}
}

// checkDownwardAPI: POD_NAME and POD_IP come from the pod, and POD_IP is
// defined before EVARA_CLUSTER_ADVERTISE, whose $(POD_IP) would otherwise
// stay literal.
func checkDownwardAPI(t *testing.T, where string, c corev1.Container) {
	t.Helper()
	index := map[string]int{}
	for i, e := range c.Env {
		index[e.Name] = i
	}
	for name, field := range map[string]string{"POD_NAME": "metadata.name", "POD_IP": "status.podIP"} {
		i, ok := index[name]
		if !ok {
			t.Errorf("%s: env %s missing", where, name)
			continue
		}
		e := c.Env[i]
		if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != field || e.Value != "" {
			t.Errorf("%s: env %s: want valueFrom.fieldRef.fieldPath %s", where, name, field)
		}
	}
	if ip, adv := index["POD_IP"], index["EVARA_CLUSTER_ADVERTISE"]; ip > adv {
		t.Errorf("%s: env POD_IP (#%d) must come before EVARA_CLUSTER_ADVERTISE (#%d)", where, ip, adv)
	}
}

// checkSecretEnv: every secret variable present comes from a Secret key,
// never a literal; the wanted ones are there, the others absent.
func checkSecretEnv(t *testing.T, where string, env map[string]corev1.EnvVar, want map[string]corev1.SecretKeySelector) {
	t.Helper()
	for _, name := range secretVars {
		e, ok := env[name]
		w, wanted := want[name]
		switch {
		case !ok && wanted:
			t.Errorf("%s: env %s missing, want it from Secret %s key %s", where, name, w.Name, w.Key)
		case ok && !wanted:
			t.Errorf("%s: env %s is set; want it unset in this value set", where, name)
		case ok && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil):
			t.Errorf("%s: env %s: want valueFrom.secretKeyRef and no value", where, name)
		case ok:
			if diff := cmp.Diff(w, *e.ValueFrom.SecretKeyRef); diff != "" {
				t.Errorf("%s: env %s valueFrom.secretKeyRef (-want +got):\n%s", where, name, diff)
			}
		}
	}
}

// checkShutdown: EVARA_SHUTDOWN_TIMEOUT plus the preStop pause ends before
// terminationGracePeriodSeconds.
func checkShutdown(t *testing.T, dep *appsv1.Deployment, c corev1.Container, env map[string]corev1.EnvVar) {
	t.Helper()
	timeout, err := time.ParseDuration(env["EVARA_SHUTDOWN_TIMEOUT"].Value)
	if err != nil {
		t.Errorf("Deployment %s: env EVARA_SHUTDOWN_TIMEOUT: %v", dep.Name, err)
		return
	}
	var pause time.Duration
	if l := c.Lifecycle; l != nil && l.PreStop != nil {
		if l.PreStop.Sleep == nil {
			t.Errorf("Deployment %s: container evara lifecycle.preStop: want a sleep (the image has no shell)", dep.Name)
		} else {
			pause = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
		}
	}
	grace := time.Duration(*dep.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	if pause+timeout >= grace {
		t.Errorf("Deployment %s: preStop sleep %s + EVARA_SHUTDOWN_TIMEOUT %s must stay below terminationGracePeriodSeconds (%s)", dep.Name, pause, timeout, grace)
	}
}
