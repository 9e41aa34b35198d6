package helm_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// checkServices: the HTTP Service (ClusterIP, 80 → http) and the headless
// remoting one (7101, not-ready addresses published), both on the
// Deployment's selector.
func checkServices(t *testing.T, m manifests) {
	t.Helper()
	_, c := server(t, m)
	sel := selector(t, m)
	http, headless := httpService(t, m), headlessService(t, m)
	if http.Spec.Type != "" && http.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("Service %s: spec.type = %s, want ClusterIP", http.Name, http.Spec.Type)
	}
	if p := http.Spec.Ports; len(p) != 1 || p[0].Port != 80 || containerPort(c, p[0].TargetPort) != httpPort {
		t.Errorf("Service %s: spec.ports = %+v, want one port 80 to the container's http port", http.Name, p)
	}
	if !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: spec.publishNotReadyAddresses = false, want true", headless.Name)
	}
	if p := headless.Spec.Ports; len(p) != 1 || p[0].Port != remotingPort || containerPort(c, p[0].TargetPort) != remotingPort {
		t.Errorf("Service %s: spec.ports = %+v, want one port %d to the container's remoting port", headless.Name, p, remotingPort)
	}
	for _, svc := range []*corev1.Service{http, headless} {
		if diff := cmp.Diff(sel, svc.Spec.Selector); diff != "" {
			t.Errorf("Service %s: spec.selector, want the Deployment's (-want +got):\n%s", svc.Name, diff)
		}
	}
}

func httpService(t *testing.T, m manifests) *corev1.Service {
	t.Helper()
	for _, s := range all[corev1.Service](m) {
		if s.Spec.ClusterIP != corev1.ClusterIPNone {
			return s
		}
	}
	t.Fatal("no HTTP Service (one with a cluster IP)")
	return nil
}

func headlessService(t *testing.T, m manifests) *corev1.Service {
	t.Helper()
	svcs := all[corev1.Service](m)
	if len(svcs) != 2 {
		t.Fatalf("want 2 Services (HTTP and headless), got %d", len(svcs))
	}
	for _, s := range svcs {
		if s.Spec.ClusterIP == corev1.ClusterIPNone {
			return s
		}
	}
	t.Fatal("no headless Service (spec.clusterIP: None)")
	return nil
}

// checkPDB: at most one member disrupted at a time.
func checkPDB(t *testing.T, m manifests) {
	t.Helper()
	pdb := only[policyv1.PodDisruptionBudget](t, m, "PodDisruptionBudget")
	if pdb.Spec.MinAvailable != nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.String() != "1" {
		t.Errorf("PodDisruptionBudget %s: spec.maxUnavailable = %v, want 1 (and no minAvailable)", pdb.Name, pdb.Spec.MaxUnavailable)
	}
	if pdb.Spec.Selector == nil || !cmp.Equal(selector(t, m), pdb.Spec.Selector.MatchLabels) {
		t.Errorf("PodDisruptionBudget %s: spec.selector = %v, want the Deployment's matchLabels", pdb.Name, pdb.Spec.Selector)
	}
}

// checkHPA: 3–10 members on CPU 70 % and memory 80 % of the requests.
func checkHPA(t *testing.T, m manifests, enabled bool) {
	t.Helper()
	hpas := all[autoscalingv2.HorizontalPodAutoscaler](m)
	if !enabled {
		if len(hpas) != 0 {
			t.Errorf("HorizontalPodAutoscaler %s rendered with autoscaling off", hpas[0].Name)
		}
		return
	}
	hpa := only[autoscalingv2.HorizontalPodAutoscaler](t, m, "HorizontalPodAutoscaler")
	dep := deployment(t, m)
	if want := (autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name}); hpa.Spec.ScaleTargetRef != want {
		t.Errorf("HorizontalPodAutoscaler %s: spec.scaleTargetRef = %+v, want %+v", hpa.Name, hpa.Spec.ScaleTargetRef, want)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != 3 || hpa.Spec.MaxReplicas != 10 {
		t.Errorf("HorizontalPodAutoscaler %s: spec.minReplicas/maxReplicas = %v/%d, want 3/10", hpa.Name, hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	utilization := func(name corev1.ResourceName, percent int32) autoscalingv2.MetricSpec {
		return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: name, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(percent)},
		}}
	}
	want := []autoscalingv2.MetricSpec{utilization(corev1.ResourceCPU, 70), utilization(corev1.ResourceMemory, 80)}
	if diff := cmp.Diff(want, hpa.Spec.Metrics); diff != "" {
		t.Errorf("HorizontalPodAutoscaler %s: spec.metrics (-want +got):\n%s", hpa.Name, diff)
	}
	for _, c := range dep.Spec.Template.Spec.Containers {
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("Deployment %s: container %s resources.requests needs cpu and memory for the HPA's utilization", dep.Name, c.Name)
		}
	}
}

// checkNetworkPolicy: only this release's pods reach the remoting port; the
// HTTP port is open to everyone or to the configured peers.
func checkNetworkPolicy(t *testing.T, m manifests, httpFrom []networkingv1.NetworkPolicyPeer) {
	t.Helper()
	np := only[networkingv1.NetworkPolicy](t, m, "NetworkPolicy")
	sel := selector(t, m)
	if !cmp.Equal(metav1.LabelSelector{MatchLabels: sel}, np.Spec.PodSelector) {
		t.Errorf("NetworkPolicy %s: spec.podSelector = %+v, want the Deployment's matchLabels %v", np.Name, np.Spec.PodSelector, sel)
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Errorf("NetworkPolicy %s: spec.policyTypes = %v, want Ingress", np.Name, np.Spec.PolicyTypes)
	}
	sameRelease := networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: sel}}
	var remoting, http int
	for i, rule := range np.Spec.Ingress {
		if admits(rule, remotingPort, "remoting") {
			remoting++
			if len(rule.From) == 0 {
				t.Errorf("NetworkPolicy %s: spec.ingress[%d] admits the remoting port from anywhere", np.Name, i)
			}
			for j, peer := range rule.From {
				if !cmp.Equal(sameRelease, peer) {
					t.Errorf("NetworkPolicy %s: spec.ingress[%d].from[%d] = %+v admits the remoting port; want only podSelector %v", np.Name, i, j, peer, sel)
				}
			}
		}
		if admits(rule, httpPort, "http") {
			http++
			if diff := cmp.Diff(httpFrom, rule.From); diff != "" {
				t.Errorf("NetworkPolicy %s: spec.ingress[%d].from of the HTTP port (-want +got):\n%s", np.Name, i, diff)
			}
		}
	}
	if remoting == 0 || http != 1 {
		t.Errorf("NetworkPolicy %s: %d rules admit the remoting port and %d the HTTP port, want at least 1 and exactly 1", np.Name, remoting, http)
	}
}

// admits reports whether a rule lets traffic to a port (by number or by
// the container port's name) through: a rule without ports admits all.
func admits(rule networkingv1.NetworkPolicyIngressRule, number int32, name string) bool {
	if len(rule.Ports) == 0 {
		return true
	}
	for _, p := range rule.Ports {
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == intstr.String:
			if p.Port.StrVal == name {
				return true
			}
		case p.EndPort != nil:
			if p.Port.IntVal <= number && number <= *p.EndPort {
				return true
			}
		case p.Port.IntVal == number:
			return true
		}
	}
	return false
}
