package sqlitestore_test

import (
	"context"
	"testing"

	"github.com/evaratech/evara/persistence/sqlitestore"
	"github.com/evaratech/evara/persistence/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s, err := sqlitestore.Open(context.Background(), t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
