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
//
// Jobs live in a [store.Store]: the embedded SQLite store by default,
// PostgreSQL or Redis when several containers share one queue. Delivery is
// at least once: a job leased by a worker that dies is rescued when its
// lease expires and runs again, so handlers should be idempotent.
package boiler
