package deploy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ote-stack/ote/hub/store"
)

// A rollout takes one approved change (new, upgrade, rollback) of a
// deployment to its clusters wave by wave: Plan splits the target clusters
// into waves, Step moves a rollout on from what its current wave's agents
// report, and Act applies a member's pause, resume or abort. The store
// runs each in a transaction and writes what they decide.

// Limits of a strategy.
const (
	MaxWaves           = 20
	DefaultDeadline    = 600 * time.Second
	maxWaitSeconds     = 86400
	maxSoakSeconds     = 3600
	maxDeadlineSeconds = 86400
	maxWaveCount       = 100000
	maxWaveName        = 32
)

var (
	labelRE    = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$`)
	waveNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]*$`)
)

// Candidate is a cluster a deployment may reach, with its labels.
type Candidate struct {
	ID     uint64
	Name   string
	Labels []string
}

// ValidateStrategy checks s for a deployment to the clusters carrying
// clusterLabel (every cluster when empty): targets. It fills the
// strategy's defaults. Refusals name the field, under "strategy".
func ValidateStrategy(s *store.Strategy, clusterLabel string, targets []Candidate) error {
	if len(s.Waves) == 0 {
		return invalid("strategy.waves", "must list at least one wave")
	}
	if len(s.Waves) > MaxWaves {
		return invalid("strategy.waves", "lists %d waves; at most %d", len(s.Waves), MaxWaves)
	}
	carried := map[string]bool{}
	for _, c := range targets {
		for _, l := range c.Labels {
			carried[l] = true
		}
	}
	for i := range s.Waves {
		w := &s.Waves[i]
		f := fmt.Sprintf("strategy.waves[%d]", i)
		if w.Name != "" && (len(w.Name) > maxWaveName || !waveNameRE.MatchString(w.Name)) {
			return invalid(f+".name", "must be 1-%d letters, digits, spaces, '.', '_' or '-'", maxWaveName)
		}
		chosen := 0
		if w.ClusterLabel != "" {
			chosen++
			if !labelRE.MatchString(w.ClusterLabel) {
				return invalid(f+".clusterLabel", "must be 1-63 letters, digits, '-' or '.', starting and ending with a letter or digit, got %q", w.ClusterLabel)
			}
			if !carried[w.ClusterLabel] {
				return invalid(f+".clusterLabel", "no cluster the deployment reaches carries label %q", w.ClusterLabel)
			}
		}
		if w.Count != 0 {
			chosen++
			if w.Count < 0 || w.Count > maxWaveCount {
				return invalid(f+".count", "must be between 1 and %d, got %d", maxWaveCount, w.Count)
			}
		}
		if w.Percent != 0 {
			chosen++
			if w.Percent < 0 || w.Percent > 100 {
				return invalid(f+".percent", "must be between 1 and 100, got %d", w.Percent)
			}
		}
		if chosen > 1 {
			return invalid(f, "chooses its clusters by one of clusterLabel, count or percent, not %d of them", chosen)
		}
		if chosen == 0 && i != len(s.Waves)-1 {
			return invalid(f, "takes every remaining cluster, so it must be the last wave; give it a clusterLabel, count or percent")
		}
		if w.WaitSeconds < 0 || w.WaitSeconds > maxWaitSeconds {
			return invalid(f+".waitSeconds", "must be between 0 and %d, got %d", maxWaitSeconds, w.WaitSeconds)
		}
		if w.Approval && w.WaitSeconds > 0 {
			return invalid(f+".waitSeconds", "a wave is followed by an approval or a wait, not both")
		}
	}
	if s.MaxUnavailable < 0 || s.MaxUnavailable > maxWaveCount {
		return invalid("strategy.maxUnavailable", "must be between 0 and %d, got %d", maxWaveCount, s.MaxUnavailable)
	}
	if s.SoakSeconds < 0 || s.SoakSeconds > maxSoakSeconds {
		return invalid("strategy.soakSeconds", "must be between 0 and %d, got %d", maxSoakSeconds, s.SoakSeconds)
	}
	if s.DeadlineSeconds == 0 {
		s.DeadlineSeconds = int(DefaultDeadline / time.Second)
	}
	if s.DeadlineSeconds < 10 || s.DeadlineSeconds > maxDeadlineSeconds {
		return invalid("strategy.deadlineSeconds", "must be between 10 and %d, got %d", maxDeadlineSeconds, s.DeadlineSeconds)
	}
	if len(targets) == 0 {
		if clusterLabel == "" {
			return invalid("strategy", "no cluster has joined: there is nothing to roll out to")
		}
		return invalid("strategy", "no cluster carries the deployment's label %q: there is nothing to roll out to", clusterLabel)
	}
	return nil
}

// Plan splits targets into the strategy's waves, in order: each wave
// takes, among the clusters no earlier wave took (sorted by name), those
// its label selects, its count, or its percentage of all targets rounded
// up; a wave without a selector takes the rest. Clusters left after the
// last wave form a final wave "rest". Empty waves are dropped.
func Plan(s *store.Strategy, targets []Candidate) []store.Wave {
	left := slices.Clone(targets)
	slices.SortFunc(left, func(a, b Candidate) int { return strings.Compare(a.Name, b.Name) })
	var waves []store.Wave
	for i, ws := range s.Waves {
		take := len(left)
		var chosen, rest []Candidate
		switch {
		case ws.ClusterLabel != "":
			for _, c := range left {
				if slices.Contains(c.Labels, ws.ClusterLabel) {
					chosen = append(chosen, c)
				} else {
					rest = append(rest, c)
				}
			}
		case ws.Count > 0:
			take = min(ws.Count, len(left))
		case ws.Percent > 0:
			take = min((ws.Percent*len(targets)+99)/100, len(left))
		}
		if ws.ClusterLabel == "" {
			chosen, rest = left[:take], left[take:]
		}
		left = rest
		if len(chosen) == 0 {
			continue
		}
		name := ws.Name
		if name == "" {
			name = fmt.Sprintf("wave %d", i+1)
		}
		waves = append(waves, store.Wave{Name: name, Clusters: ids(chosen), Approval: ws.Approval, WaitSeconds: ws.WaitSeconds})
	}
	if len(left) > 0 {
		waves = append(waves, store.Wave{Name: "rest", Clusters: ids(left)})
	}
	return waves
}

func ids(cs []Candidate) []uint64 {
	out := make([]uint64, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// WaveCluster is one cluster of the current wave as Step sees it.
type WaveCluster struct {
	Name   string
	Online bool
	Health Health
	// Line is what the cluster reports (ClusterHealth's line).
	Line string
}

// Move is what Step asks the store to do.
type Move int

const (
	// Hold: nothing to write in any cluster (the rollout's own fields
	// may have changed: save them).
	Hold Move = iota
	// StartWave: send the change to the clusters of wave r.Wave (Step
	// has advanced r.Wave).
	StartWave
	// AskApproval: file the audit request that lets wave r.Wave+1 start.
	AskApproval
	// Finish: every wave is healthy; the change is the deployment's live
	// spec everywhere it goes.
	Finish
	// RollBack: a wave failed and the strategy says autoRollback: send the
	// previous spec to every cluster the rollout changed.
	RollBack
)

// Step moves rollout r on at now, from the current wave's clusters, and
// says what to write. It changes r's fields; the caller saves them.
func Step(r *store.Rollout, wave []WaveCluster, now time.Time) Move {
	switch r.State {
	case store.RolloutRunning:
	case store.RolloutWaiting:
		if now.Sub(r.GateSince) < time.Duration(r.Waves[r.Wave].WaitSeconds)*time.Second {
			return Hold
		}
		return startNext(r, now)
	default:
		return Hold
	}
	healthy := 0
	var failed, notYet []string
	for _, c := range wave {
		switch {
		case c.Health == Failed:
			failed = append(failed, c.Name+": "+c.Line)
		case c.Health == Healthy && c.Online:
			healthy++
		case !c.Online:
			notYet = append(notYet, c.Name+": offline")
		default:
			notYet = append(notYet, c.Name+": "+c.Line)
		}
	}
	w := r.Waves[r.Wave]
	if len(failed) > 0 {
		return fail(r, fmt.Sprintf("wave %q failed: %s", w.Name, strings.Join(failed, "; ")))
	}
	// At least one cluster of a wave must be healthy, whatever
	// maxUnavailable says: a gate that nobody passed is no gate.
	if need := max(min(1, len(wave)), len(wave)-r.Strategy.MaxUnavailable); healthy < need {
		r.HealthySince = time.Time{}
		if now.Sub(r.WaveStarted) >= time.Duration(r.Strategy.DeadlineSeconds)*time.Second {
			return fail(r, fmt.Sprintf("wave %q was not healthy within %ds: %s", w.Name, r.Strategy.DeadlineSeconds, strings.Join(notYet, "; ")))
		}
		r.Reason = fmt.Sprintf("wave %q: %d of %d clusters healthy", w.Name, healthy, len(wave))
		return Hold
	}
	if r.HealthySince.IsZero() {
		r.HealthySince = now
	}
	if now.Sub(r.HealthySince) < time.Duration(r.Strategy.SoakSeconds)*time.Second {
		r.Reason = fmt.Sprintf("wave %q healthy, soaking for %ds", w.Name, r.Strategy.SoakSeconds)
		return Hold
	}
	switch {
	case r.Wave == len(r.Waves)-1:
		r.State, r.Reason = store.RolloutSucceeded, fmt.Sprintf("all %d waves healthy", len(r.Waves))
		return Finish
	case w.Approval:
		r.State, r.GateSince = store.RolloutApproval, now
		r.Reason = fmt.Sprintf("wave %q healthy; wave %q waits for approval", w.Name, r.Waves[r.Wave+1].Name)
		return AskApproval
	case w.WaitSeconds > 0:
		r.State, r.GateSince = store.RolloutWaiting, now
		r.Reason = fmt.Sprintf("wave %q healthy; wave %q starts after %ds", w.Name, r.Waves[r.Wave+1].Name, w.WaitSeconds)
		return Hold
	}
	return startNext(r, now)
}

func startNext(r *store.Rollout, now time.Time) Move {
	r.Wave++
	r.State, r.WaveStarted, r.HealthySince, r.GateSince = store.RolloutRunning, now, time.Time{}, time.Time{}
	r.Reason = fmt.Sprintf("wave %q started", r.Waves[r.Wave].Name)
	return StartWave
}

func fail(r *store.Rollout, reason string) Move {
	r.Reason = reason
	if r.Strategy.AutoRollback {
		r.State = store.RolloutRolledBack
		return RollBack
	}
	r.State = store.RolloutFailed
	return Hold
}

// Start makes r, just approved, begin with its first wave.
func Start(r *store.Rollout, now time.Time) {
	r.Wave, r.State, r.WaveStarted = 0, store.RolloutRunning, now
	r.Reason = fmt.Sprintf("wave %q started", r.Waves[0].Name)
}

// ApproveWave lets the next wave of r start (its approval request was
// approved).
func ApproveWave(r *store.Rollout, now time.Time) (Move, error) {
	if r.State != store.RolloutApproval {
		return Hold, &StateError{fmt.Sprintf("the rollout is %s, not waiting for an approval", r.State)}
	}
	return startNext(r, now), nil
}

// RefuseWave ends r: the approval of its next wave was refused.
func RefuseWave(r *store.Rollout, comment string) {
	r.State = store.RolloutAborted
	r.Reason = fmt.Sprintf("wave %q was refused: %s", r.Waves[r.Wave+1].Name, comment)
}

// StateError refuses an action the rollout's state does not allow (409).
type StateError struct{ Message string }

func (e *StateError) Error() string { return e.Message }

// Act applies a member's action to r. Pause holds a running or waiting
// rollout where it is; resume continues a paused one, or retries the
// current wave of a failed one, with a new deadline; abort ends an active
// rollout, leaving every cluster as it is.
func Act(r *store.Rollout, a store.RolloutAction, now time.Time) error {
	switch a {
	case store.RolloutPause:
		if r.State != store.RolloutRunning && r.State != store.RolloutWaiting {
			return &StateError{fmt.Sprintf("the rollout is %s; only a running or waiting rollout can be paused", r.State)}
		}
		r.State, r.Reason = store.RolloutPaused, fmt.Sprintf("paused in wave %q", r.Waves[r.Wave].Name)
	case store.RolloutResume:
		if r.State != store.RolloutPaused && r.State != store.RolloutFailed {
			return &StateError{fmt.Sprintf("the rollout is %s; only a paused or failed rollout can be resumed", r.State)}
		}
		r.State, r.WaveStarted, r.HealthySince, r.GateSince = store.RolloutRunning, now, time.Time{}, time.Time{}
		r.Reason = fmt.Sprintf("resumed in wave %q", r.Waves[r.Wave].Name)
	case store.RolloutAbort:
		if !r.State.Active() {
			return &StateError{fmt.Sprintf("the rollout is %s already", r.State)}
		}
		r.State, r.Reason = store.RolloutAborted, fmt.Sprintf("aborted in wave %q", r.Waves[r.Wave].Name)
	default:
		return invalid("action", "must be pause, resume or abort, got %q", a)
	}
	return nil
}

// Reached are the clusters r has sent its change to: the waves up to the
// current one.
func Reached(r *store.Rollout) []uint64 {
	var out []uint64
	for _, w := range r.Waves[:min(r.Wave+1, len(r.Waves))] {
		out = append(out, w.Clusters...)
	}
	return out
}
