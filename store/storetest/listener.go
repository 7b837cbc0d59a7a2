package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// notifyTimeout bounds every wait for a notification: generous, because
// notifications may travel through a database server on a loaded machine.
const notifyTimeout = 5 * time.Second

func listenerTests() []test {
	return []test{
		{"ReceivesQueueOfInsertedJob", testListenerReceivesQueue},
		{"InsertsDoNotBlockOnAnUnreadChannel", testListenerDoesNotBlockInserts},
		{"ClosesWhenContextDone", testListenerClosesWhenContextDone},
	}
}

// listen returns s's insert notifications until ctx is done, and skips the
// test if s does not implement store.Listener.
func listen(ctx context.Context, t *testing.T, s store.Store) <-chan string {
	t.Helper()
	l, ok := s.(store.Listener)
	if !ok {
		t.Skipf("%T does not implement store.Listener", s)
	}
	ch, err := l.ListenInserts(ctx)
	if err != nil {
		t.Fatalf("ListenInserts: %v", err)
	}
	return ch
}

// receive waits for a notification naming queue.
func receive(t *testing.T, ch <-chan string, queue string) {
	t.Helper()
	deadline := time.After(notifyTimeout)
	for {
		select {
		case got, ok := <-ch:
			if !ok {
				t.Fatalf("ListenInserts channel closed while its context is live, waiting for queue %q", queue)
			}
			if got == queue {
				return
			}
			t.Fatalf("ListenInserts received queue %q, want %q (the only queue inserted into)", got, queue)
		case <-deadline:
			t.Fatalf("ListenInserts received nothing within %s of an insert into queue %q", notifyTimeout, queue)
		}
	}
}

// "ListenInserts returns a channel that receives the queue name of
// inserted jobs", for single and batched inserts.
func testListenerReceivesQueue(t *testing.T, s store.Store) {
	ch := listen(t.Context(), t, s)
	insert(t, s, at(0), &store.JobInsertParams{Queue: "mail"})
	receive(t, ch, "mail")
	insertN(t, s, at(0), 3, &store.JobInsertParams{Queue: "mail"})
	receive(t, ch, "mail")
}

// "sends never block the inserter": many inserts while nobody reads the
// channel all return, and the listener still hears of them afterwards
// (coalesced: at least one receive).
func testListenerDoesNotBlockInserts(t *testing.T, s store.Store) {
	ch := listen(t.Context(), t, s)
	done := make(chan error, 1)
	go func() {
		for range 50 {
			_, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{
				Now: at(0), Jobs: []*store.JobInsertParams{withDefaults(&store.JobInsertParams{Queue: "busy"})},
			})
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("JobInsertMany while a listener does not read: %v", err)
		}
	case <-time.After(4 * notifyTimeout):
		t.Fatalf("50 inserts did not return within %s while nobody read the ListenInserts channel: sends block the inserter", 4*notifyTimeout)
	}
	receive(t, ch, "busy")
}

// "The channel is closed when ctx is done."
func testListenerClosesWhenContextDone(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	ch := listen(ctx, t, s)
	cancel()
	deadline := time.After(notifyTimeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("ListenInserts channel still open %s after its context was cancelled", notifyTimeout)
		}
	}
}
