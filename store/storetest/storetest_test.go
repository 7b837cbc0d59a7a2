package storetest_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestReference runs the suite against refStore, the plain in-memory
// reading of the contract: the suite must pass it.
func TestReference(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := newRefStore()
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
