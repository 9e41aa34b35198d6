package telemetry

// Status is a node's operational status as the dashboard shows it (SPEC §4).
type Status string

// The statuses a node can be in.
const (
	StatusProvisioning Status = "provisioning"
	StatusOnline       Status = "Online"
	StatusOffline      Status = "Offline"
	StatusAlert        Status = "Alert"
	StatusMaintenance  Status = "Maintenance"
)
