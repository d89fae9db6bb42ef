package deploy

import (
	"context"
	"log/slog"
	"time"
)

// Stepper moves every running rollout on (the store's StepRollouts).
type Stepper interface {
	StepRollouts(ctx context.Context, now time.Time) (bool, error)
}

// RunRollouts steps the rollouts every period until ctx ends, and calls
// wrote when a step wrote desired state (to wake the tunnel). A failing
// database is logged when it starts failing and then once a minute; the
// next tick tries again. Every replica may run it: each rollout is stepped
// under its row's lock.
func RunRollouts(ctx context.Context, st Stepper, period time.Duration, wrote func(), log *slog.Logger) {
	t := time.NewTicker(period)
	defer t.Stop()
	var failingSince, lastLog time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		w, err := st.StepRollouts(qctx, time.Now())
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			if time.Since(lastLog) >= time.Minute {
				log.Warn("step rollouts; will retry", "failing_for", time.Since(failingSince).Round(time.Second), "err", err)
				lastLog = time.Now()
			}
		case err == nil && !failingSince.IsZero():
			log.Info("rollouts step again", "failed_for", time.Since(failingSince).Round(time.Second))
			failingSince, lastLog = time.Time{}, time.Time{}
		}
		if w {
			wrote()
		}
	}
}
