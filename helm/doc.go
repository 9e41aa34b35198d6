// Package helm holds no Go code: the directory holds the Helm chart that
// deploys evara (helm/evara) and its test, chart_test.go, which renders the
// chart with the Helm SDK for several value sets, decodes every object
// strictly into the Kubernetes API types and checks what the deployment
// relies on (RBAC of the Kubernetes cluster provider, probes, security
// context, secrets by reference, the NetworkPolicy of the remoting port,
// autoscaling bounds, the migrations hook), runs Helm's linter and checks
// that values.schema.json refuses unknown keys.
package helm
