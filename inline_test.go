package boiler

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

func TestInlineClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := NewRegistry()
	var sent []string
	errBounce := errors.New("bounced")
	Handle(r, func(_ context.Context, job *Job[emailArgs]) error {
		switch job.Args.To {
		case "bounce":
			return errBounce
		case "later":
			return Snooze(time.Minute)
		case "gone":
			return Cancel(errors.New("no such user"))
		case "panic":
			panic("kaboom")
		}
		if job.Attempt != 1 || job.State != store.StateRunning || job.ID == 0 {
			t.Errorf("inline row: %+v", job.JobRow)
		}
		sent = append(sent, job.Args.To)
		return nil
	})
	c := NewInlineClient(r, nil)

	res, err := c.Enqueue(ctx, emailArgs{To: "ada"}, &EnqueueOptions{RunIn: time.Hour})
	if err != nil || res.Job.State != store.StateCompleted || len(sent) != 1 || sent[0] != "ada" {
		t.Fatalf("Enqueue ran the handler at once? %v %+v sent=%v", err, res, sent)
	}
	_, err = c.Enqueue(ctx, emailArgs{To: "bounce"}, nil)
	if !errors.Is(err, errBounce) || !strings.HasPrefix(err.Error(), "enqueue email: ") {
		t.Fatalf("handler error = %v, want errBounce wrapped", err)
	}
	res, err = c.Enqueue(ctx, emailArgs{To: "later"}, nil)
	if err != nil || res.Job.State != store.StateScheduled || res.Job.Attempt != 0 {
		t.Fatalf("snooze: %v %+v", err, res)
	}
	_, err = c.Enqueue(ctx, emailArgs{To: "gone"}, nil)
	if err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Fatalf("cancel: %v", err)
	}
	_, err = c.Enqueue(ctx, emailArgs{To: "panic"}, nil)
	if err == nil || !strings.Contains(err.Error(), "panic: kaboom") {
		t.Fatalf("panic: %v", err)
	}
	_, err = c.EnqueueRaw(ctx, "nobody", nil, nil)
	if err == nil || err.Error() != `enqueue nobody: unknown job kind "nobody" (registered: email)` {
		t.Fatalf("unknown kind: %v", err)
	}
	_, err = c.EnqueueRaw(ctx, "email", []byte(`{"to": 1}`), nil)
	if err == nil || !strings.Contains(err.Error(), `decoding args of job kind "email"`) {
		t.Fatalf("undecodable args: %v", err)
	}
	many, err := c.EnqueueMany(ctx, []EnqueueParams{{Args: emailArgs{To: "b"}}, {Args: emailArgs{To: "c"}}})
	if err != nil || len(many) != 2 || many[0].Job.ID == many[1].Job.ID {
		t.Fatalf("EnqueueMany: %v %+v", err, many)
	}
	if _, err := c.QueueStats(ctx); err == nil {
		t.Fatal("QueueStats on an inline client: no error")
	}
	if _, err := c.JobGet(ctx, 1); err == nil {
		t.Fatal("JobGet on an inline client: no error")
	}
}

func TestInlineClientTimeout(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	Handle(r, func(ctx context.Context, _ *Job[noopArgs]) error {
		<-ctx.Done()
		return ctx.Err()
	})
	c := NewInlineClient(r, nil)
	_, err := c.Enqueue(context.Background(), noopArgs{}, &EnqueueOptions{Timeout: 20 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", err)
	}
}
