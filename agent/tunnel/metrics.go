package tunnel

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	connected  prometheus.Gauge
	reconnects prometheus.Counter
	revision   prometheus.Gauge
	nodes      prometheus.Gauge
	items      *prometheus.CounterVec
	running    prometheus.Gauge
	waiting    prometheus.Gauge
	// applyTime is how long applies take, by item kind.
	applyTime *prometheus.HistogramVec
	// drift counts out-of-band changes of applied workloads found, by
	// what the agent did (corrected, reported).
	drift *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connected:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "ote_agent_connected", Help: "1 while the tunnel to the hub is up."}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "ote_agent_reconnects_total", Help: "Tunnel connection attempts after a failure or a cut."}),
		revision:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "ote_agent_applied_revision", Help: "Highest desired-state revision processed."}),
		nodes:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "ote_agent_nodes", Help: "Nodes in the last full inventory."}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ote_agent_items_total", Help: "Desired items applied, by kind and outcome (applied, failed).",
		}, []string{"kind", "state"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ote_agent_applies_running", Help: "Desired items being applied now."}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ote_agent_applies_waiting", Help: "Desired items waiting for an apply slot or for the running apply of their key."}),
		applyTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ote_agent_apply_duration_seconds", Help: "How long an apply of a desired item took, by kind (failed ones included).",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"kind"}),
		drift: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ote_agent_drift_total", Help: "Fields of applied workloads found changed by another field manager, by action (corrected: applied again; reported).",
		}, []string{"action"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.connected, m.reconnects, m.revision, m.nodes, m.items, m.running, m.waiting, m.applyTime, m.drift} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
