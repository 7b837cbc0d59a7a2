// Package incontainer is the autoscaler's target inside the container: a
// process type of the formation that `boiler start` supervises. Wrap it
// with a memguard.Target so a scale-up never takes the container past its
// memory or process limits:
//
//	f, _ := incontainer.New(sup, "worker")
//	guard, _ := memguard.New(memguard.Options{MemoryLimit: limit})
//	target, _ := memguard.NewTarget(f, guard, logger)
//
// Scaling down stops the highest-numbered instances (the supervisor's
// rule), each with SIGTERM and, after the stop timeout, SIGKILL; a boiler
// worker finishes or hands back its jobs within that time.
package incontainer

import (
	"context"
	"errors"
	"fmt"

	"github.com/doubleboiler/boiler/autoscale"
	"github.com/doubleboiler/boiler/autoscale/memguard"
	"github.com/doubleboiler/boiler/supervisor"
)

// Supervisor is the part of *supervisor.Supervisor the target uses.
type Supervisor interface {
	Formation() (map[string]int, error)
	Scale(processType string, n int) error
	Processes() ([]supervisor.Process, error)
}

// Formation scales one process type of a running supervisor. It
// implements [autoscale.Target] and [memguard.Formation].
type Formation struct {
	sup Supervisor
	typ string
}

// New returns the target for processType of sup.
func New(sup Supervisor, processType string) (*Formation, error) {
	if sup == nil {
		return nil, errors.New("in-container target: the supervisor is nil")
	}
	if processType == "" {
		return nil, errors.New("in-container target: the process type is empty")
	}
	return &Formation{sup: sup, typ: processType}, nil
}

// Current implements [autoscale.Target]: the instances the supervisor
// runs or is starting.
func (f *Formation) Current(context.Context) (int, error) {
	form, err := f.sup.Formation()
	if err != nil {
		return 0, fmt.Errorf("reading the formation: %w", err)
	}
	n, ok := form[f.typ]
	if !ok {
		return 0, fmt.Errorf("reading the formation: no process type %q", f.typ)
	}
	return n, nil
}

// Set implements [autoscale.Target].
func (f *Formation) Set(_ context.Context, n int) error {
	if err := f.sup.Scale(f.typ, n); err != nil {
		return fmt.Errorf("scaling %s to %d: %w", f.typ, n, err)
	}
	return nil
}

// Workers implements [memguard.Formation]: the running instances, with
// the memory of their whole process group.
func (f *Formation) Workers(context.Context) ([]memguard.Worker, error) {
	procs, err := f.sup.Processes()
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	var out []memguard.Worker
	for _, p := range procs {
		if p.Type == f.typ && p.State == "running" && p.PID > 0 {
			out = append(out, memguard.Worker{PID: p.PID, RSS: p.RSS})
		}
	}
	return out, nil
}

var (
	_ autoscale.Target   = (*Formation)(nil)
	_ memguard.Formation = (*Formation)(nil)
	_ Supervisor         = (*supervisor.Supervisor)(nil)
)
