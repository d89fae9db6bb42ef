package api

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ote-stack/ote/hub/store"
)

// platformCollector serves the platform's figures on /metrics: clusters by
// readiness, deployments by status, audit requests pending, desired state
// not acknowledged and its age. They come from the database, so every
// replica shows the same; a scrape reads them at most once per maxAge, and
// a database that cannot answer leaves them out (ote_hub_platform_stats_up
// 0) rather than failing the scrape. No series carries a cluster's, a
// business's or a user's name.
type platformCollector struct {
	store  store.Store
	window func() time.Duration
	maxAge time.Duration

	mu     sync.Mutex
	at     time.Time
	last   *store.PlatformStats
	failed bool

	up, clusters, deploys, audits, unacked, oldest *prometheus.Desc
}

// deployStatusNames label ote_hub_deployments: the seed's statuses.
var deployStatusNames = map[store.DeployStatus]string{
	0: "pending", 1: "approved", 2: "disapproved", 3: "processing", 4: "deploying",
	5: "success", 6: "partial_success", 7: "failed", 8: "internal_error", 9: "deleted",
}

func newPlatformCollector(st store.Store, window func() time.Duration) *platformCollector {
	return &platformCollector{
		store: st, window: window, maxAge: 5 * time.Second,
		up:       prometheus.NewDesc("ote_hub_platform_stats_up", "1 when the platform's figures below could be read from the database.", nil, nil),
		clusters: prometheus.NewDesc("ote_hub_clusters", "Edge clusters, by readiness (ready: heard within the ready window).", []string{"state"}, nil),
		deploys:  prometheus.NewDesc("ote_hub_deployments", "Deployments, by status.", []string{"status"}, nil),
		audits:   prometheus.NewDesc("ote_hub_audit_requests_pending", "Deployment requests waiting for an administrator's audit.", nil, nil),
		unacked:  prometheus.NewDesc("ote_hub_desired_unacknowledged", "Desired items (per cluster) whose newest revision the cluster's agent has not reported on.", nil, nil),
		oldest:   prometheus.NewDesc("ote_hub_desired_unacknowledged_oldest_seconds", "Age of the oldest unacknowledged desired item (0 when none).", nil, nil),
	}
}

func (p *platformCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{p.up, p.clusters, p.deploys, p.audits, p.unacked, p.oldest} {
		ch <- d
	}
}

// stats reads the figures, or reuses those read within maxAge.
func (p *platformCollector) stats() (*store.PlatformStats, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.last != nil && !p.failed && now.Sub(p.at) < p.maxAge {
		return p.last, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := p.store.PlatformStats(ctx, now.Add(-p.window()))
	p.at, p.failed = now, err != nil
	if err != nil {
		return nil, false
	}
	p.last = st
	return st, true
}

func (p *platformCollector) Collect(ch chan<- prometheus.Metric) {
	st, ok := p.stats()
	if !ok {
		ch <- prometheus.MustNewConstMetric(p.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(p.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(p.clusters, prometheus.GaugeValue, float64(st.ClustersReady), "ready")
	ch <- prometheus.MustNewConstMetric(p.clusters, prometheus.GaugeValue, float64(st.ClustersNotReady), "not_ready")
	for status, name := range deployStatusNames {
		ch <- prometheus.MustNewConstMetric(p.deploys, prometheus.GaugeValue, float64(st.Deploys[status]), name)
	}
	ch <- prometheus.MustNewConstMetric(p.audits, prometheus.GaugeValue, float64(st.AuditsPending))
	ch <- prometheus.MustNewConstMetric(p.unacked, prometheus.GaugeValue, float64(st.Unacknowledged))
	age := 0.0
	if st.Unacknowledged > 0 && !st.OldestUnacknowledged.IsZero() {
		age = max(0, time.Since(st.OldestUnacknowledged).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(p.oldest, prometheus.GaugeValue, age)
}
