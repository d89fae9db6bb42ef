package tunnel

import (
	"context"
	"maps"
	"slices"
	"time"
)

// One live session per cluster across hub replicas. Every replica records
// the sessions it starts (clusters.session); on PostgreSQL the recording
// also notifies every replica (store's Watch → SessionsChanged), and each
// one closes the sessions it holds whose cluster now records another
// session: the session recorded last (the newer connection) wins, and the
// older replica lets go within moments, well inside a heartbeat. A
// session is judged only once its own start is written, so a replica
// never closes a session for a row that has not caught up with it yet.

// SessionsChanged says that new sessions, possibly on other replicas, took
// the tunnels of clusters ids; nil: any cluster may have (the watch was
// down). Safe from any goroutine; never waits.
func (h *Hub) SessionsChanged(ids []uint64) {
	h.ownersMu.Lock()
	if ids == nil {
		h.ownersAll = true
	}
	for _, id := range ids {
		h.ownersPending[id] = true
	}
	h.ownersMu.Unlock()
	select {
	case h.ownersWake <- struct{}{}:
	default:
	}
}

// ownersLoop closes the sessions that a newer one replaced elsewhere, until
// ctx ends.
func (h *Hub) ownersLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.ownersWake:
		}
		select { // gather a storm of reconnects into one read
		case <-ctx.Done():
			return
		case <-time.After(sessionGather):
		}
		if err := h.checkOwners(ctx); err != nil {
			h.log.Warn("check which replica holds the clusters' sessions; will retry", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			select {
			case h.ownersWake <- struct{}{}:
			default:
			}
		}
	}
}

func (h *Hub) checkOwners(ctx context.Context) error {
	h.ownersMu.Lock()
	pending, all := h.ownersPending, h.ownersAll
	h.ownersPending, h.ownersAll = map[uint64]bool{}, false
	h.ownersMu.Unlock()

	h.mu.Lock()
	held := map[uint64]*session{}
	if all {
		maps.Copy(held, h.sessions)
	} else {
		for id := range pending {
			if s := h.sessions[id]; s != nil {
				held[id] = s
			}
		}
	}
	h.mu.Unlock()
	for id, s := range held {
		if !s.startWritten.Load() {
			delete(held, id) // judged when its own write notifies
		}
	}
	if len(held) == 0 {
		return nil
	}
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	owners, err := h.store.ClusterSessions(qctx, slices.Collect(maps.Keys(held)))
	if err != nil {
		h.ownersMu.Lock()
		for id := range held {
			h.ownersPending[id] = true
		}
		h.ownersAll = h.ownersAll || all
		h.ownersMu.Unlock()
		return err
	}
	for id, s := range held {
		if owner, ok := owners[id]; ok && owner != s.id && owner != "" {
			s.log.Info("a newer session of this cluster on another replica replaced this one", "newer", owner)
			h.metrics.refused.WithLabelValues("replaced_elsewhere").Inc()
			s.replaced()
		}
	}
	return nil
}
