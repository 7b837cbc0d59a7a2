package postgres

// Stubs of the store methods added for workers, leaders, periodic jobs and
// workflows; replaced one by one by the real implementations.

import (
	"context"
	"errors"
	"time"

	"github.com/doubleboiler/boiler/store"
)

func (s *Store) WorkerBeat(ctx context.Context, info *store.WorkerInfo) error {
	return errors.ErrUnsupported
}

func (s *Store) WorkerList(ctx context.Context) ([]*store.WorkerInfo, error) {
	return nil, errors.ErrUnsupported
}

func (s *Store) WorkerDelete(ctx context.Context, params *store.WorkerDeleteParams) (int, error) {
	return 0, errors.ErrUnsupported
}

func (s *Store) LeaderElect(ctx context.Context, params *store.LeaderElectParams) (bool, error) {
	return false, errors.ErrUnsupported
}

func (s *Store) LeaderResign(ctx context.Context, params *store.LeaderResignParams) error {
	return errors.ErrUnsupported
}

func (s *Store) PeriodicUpsert(ctx context.Context, p *store.PeriodicJob) (*store.PeriodicJob, error) {
	return nil, errors.ErrUnsupported
}

func (s *Store) PeriodicList(ctx context.Context) ([]*store.PeriodicJob, error) {
	return nil, errors.ErrUnsupported
}

func (s *Store) PeriodicDelete(ctx context.Context, name string) error {
	return errors.ErrUnsupported
}

func (s *Store) PeriodicFire(ctx context.Context, params *store.PeriodicFireParams) (*store.PeriodicFireResult, error) {
	return nil, errors.ErrUnsupported
}

func (s *Store) PeriodicSetNext(ctx context.Context, name string, next time.Time) error {
	return errors.ErrUnsupported
}
