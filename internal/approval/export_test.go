package approval

import (
	"context"
	"sync"
)

// SweepOnce is one pass of RunScheduled, returning when the checks it
// started are done.
func (s *Service) SweepOnce(ctx context.Context, n Notifier) {
	var checks sync.WaitGroup
	s.sweep(ctx, n, &checks)
	checks.Wait()
}
