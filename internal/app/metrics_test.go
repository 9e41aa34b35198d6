package app

import (
	"testing"
)

func TestMetricsRegistryHasRuntimeAndProcessFigures(t *testing.T) {
	families, err := newRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, want := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total"} {
		if !names[want] {
			t.Errorf("registry lacks %s", want)
		}
	}
}
