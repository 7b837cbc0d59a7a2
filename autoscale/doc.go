// Package autoscale hires and fires workers from the backlog of a job
// queue.
//
// It has three parts, joined by small interfaces declared here:
//
//   - [Policy], pure: metrics in (backlog, age of the oldest job, current
//     count, the clock), a [Decision] out. desired = clamp(ceil(backlog /
//     JobsPerWorker), Min, Max), optionally raised while the oldest job
//     waits longer than a target latency. It scales up at once, scales down
//     only after the backlog has allowed the lower count for a stabilization
//     window, never changes twice within a minimum interval, and changes
//     nothing when a metric read failed or is stale.
//   - A [Source] reads the backlog (the boiler store, a Redis list, an SQL
//     count: see autoscale/source), and a [Target] reads and sets the count
//     of workers (the Heroku formation API in autoscale/heroku, a command
//     in autoscale/command).
//   - [Scaler], the loop: every interval it reads the source and the
//     target, asks the policy, applies the decision, logs it with its inputs
//     and reason, keeps it in a [Ring] and counts it in [Metrics].
//
// autoscale/simulate replays a load through the policy against simulated
// workers, to choose a policy's settings before paying for them.
package autoscale
