// Package boiler is a durable background job queue for Go programs.
//
// Define a job as an args struct with a Kind, register a handler for it,
// enqueue with a [Client] and run a [Worker] pool in the same binary or in
// another process:
//
//	type EmailArgs struct{ To string `json:"to"` }
//
//	func (EmailArgs) Kind() string { return "email" }
//
//	reg := boiler.NewRegistry()
//	boiler.Handle(reg, func(ctx context.Context, job *boiler.Job[EmailArgs]) error {
//		return send(ctx, job.Args.To)
//	})
//	client, _ := boiler.NewClient(s, nil)
//	client.Enqueue(ctx, EmailArgs{To: "ada@example.com"}, nil)
//	worker, _ := boiler.NewWorker(s, reg, nil)
//	worker.Run(ctx) // until ctx is done (SIGTERM), then a graceful stop
//
// Jobs live in a [store.Store]: the embedded SQLite store by default,
// PostgreSQL or Redis when several containers share one queue.
//
// # What happens to a job
//
// A handler's result decides the job's next state:
//
//   - nil: completed.
//   - an error (or a panic, recovered with its stack, or a timeout): the
//     error is kept on the job and the job is retried after a backoff
//     ([DefaultBackoff]: 25 attempts over about three weeks), then
//     discarded once it has used MaxAttempts.
//   - [Snooze](d): the job runs again after d; it does not use an attempt.
//   - [Cancel](err): cancelled, never retried.
//
// A job whose kind has no handler fails like an error (another deployment
// sharing the store may know the kind), and a job whose args do not decode
// into the handler's type is discarded at once (they never will).
//
// # Delivery
//
// Delivery is at least once: a worker leases the jobs it fetches and
// extends its leases while it runs; the jobs of a worker that died (a
// SIGKILL, an out-of-memory kill, a lost container) are rescued when their
// lease expires and run again. Handlers should therefore be idempotent.
// On a graceful stop (SIGTERM), running jobs get a shutdown timeout to
// finish; the others are handed back without using an attempt.
//
// For unit tests, [NewInlineClient] runs each job as soon as it is
// enqueued, with no store.
package boiler
