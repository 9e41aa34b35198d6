package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	protocluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/k8s"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// serviceAccountNamespace is where the provider reads the namespace it
// watches and patches pods in; without it, it silently uses "".
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// kubernetesProvider returns protoactor's Kubernetes provider.
//
// It only works inside a pod: it reads the in-cluster config (the
// KUBERNETES_SERVICE_HOST/PORT variables and the service account token),
// takes its own pod's name from os.Hostname() and its namespace from the
// service account's namespace file, and then needs get, patch and watch on
// pods in that namespace. The provider has no options (k8s.Option exists
// but the package defines none), so the checks below are ours: they turn
// what protoactor would only log, or retry forever, into a start-up error.
func kubernetesProvider() (protocluster.ClusterProvider, error) {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		if errors.Is(err, rest.ErrNotInCluster) {
			return nil, errors.New("cluster: the kubernetes provider runs only inside a pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set)")
		}
		return nil, fmt.Errorf("cluster: kubernetes in-cluster config: %w", err)
	}
	if _, err := os.Stat(serviceAccountNamespace); err != nil {
		return nil, fmt.Errorf("cluster: kubernetes namespace: %w (is the service account token mounted?)", err)
	}
	// The provider looks up its own pod by hostname; a pod spec that sets
	// spec.hostname breaks that. POD_NAME (downward API) lets us say so.
	if want := os.Getenv("POD_NAME"); want != "" {
		if host, _ := os.Hostname(); host != want {
			return nil, fmt.Errorf("cluster: the kubernetes provider finds its pod by hostname, but hostname %q is not POD_NAME %q", host, want)
		}
	}
	cfg.UserAgent = "evara"
	if err := clearStaleLabels(cfg); err != nil {
		return nil, err
	}
	p, err := k8s.NewWithConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: kubernetes client: %w", err)
	}
	return p, nil
}

// protoLabelPrefix marks the labels the provider writes on its pod.
const protoLabelPrefix = "cluster.proto.actor/"

// clearStaleLabels removes the provider's labels that a previous process in
// the same pod (a container restart) left behind. The provider copies
// existing labels over its own, so the new process would otherwise register
// with the dead one's member id and port — an id the other members have
// blocked for good. It is also the start-up check of the RBAC the provider
// needs (get and patch on its pod), which it would otherwise retry forever
// in a tight loop.
func clearStaleLabels(cfg *rest.Config) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("cluster: kubernetes client: %w", err)
	}
	raw, err := os.ReadFile(serviceAccountNamespace)
	if err != nil {
		return fmt.Errorf("cluster: kubernetes namespace: %w", err)
	}
	namespace, name := strings.TrimSpace(string(raw)), hostname()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pod, err := client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("cluster: reading this pod (%s/%s; the service account needs get, patch and watch on pods): %w", namespace, name, err)
	}
	var ops []map[string]string
	for key := range pod.Labels {
		if strings.HasPrefix(key, protoLabelPrefix) {
			ops = append(ops, map[string]string{"op": "remove", "path": "/metadata/labels/" + strings.ReplaceAll(key, "/", "~1")})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	if _, err := client.CoreV1().Pods(namespace).Patch(ctx, name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("cluster: clearing stale labels of this pod: %w", err)
	}
	return nil
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
