package pgstore_test

import (
	"context"
	"testing"

	"github.com/evaratech/evara/persistence/pgstore"
	"github.com/evaratech/evara/persistence/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s, err := pgstore.Open(context.Background(), storetest.FreshSchema(t), pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
