package telemetry

import "time"

// DailyStat is one field's aggregate over one UTC day of a node's readings:
// the readings that hold a number in that field, and nothing else (fields
// are never mixed).
type DailyStat struct {
	Field         int       // 1..FieldCount
	Day           time.Time // 00:00 UTC of the day
	Count         int       // readings with a number in the field
	Min, Avg, Max float64
}

// DayTotal is a node's total of some quantity over one UTC day.
type DayTotal struct {
	Node  NodeID
	Day   time.Time // 00:00 UTC of the day
	Total float64
}

// FleetCount is the number of nodes of a scope that share a category, an
// analytics type and a status.
type FleetCount struct {
	Category      string
	AnalyticsType string
	Status        Status
	Count         int
}
