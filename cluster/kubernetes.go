package cluster

import (
	"errors"

	protocluster "github.com/asynkron/protoactor-go/cluster"
)

// kubernetesProvider returns protoactor's Kubernetes provider.
func kubernetesProvider() (protocluster.ClusterProvider, error) {
	return nil, errors.New("cluster: the kubernetes provider is not built in yet")
}
