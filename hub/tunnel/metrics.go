package tunnel

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	sessions prometheus.Gauge
	revision prometheus.Gauge
	messages *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	refused  *prometheus.CounterVec
	drift    *prometheus.CounterVec
}

// counted records one tunnel message of kind, n bytes, in or out.
func (m *metrics) counted(kind, direction string, n int) {
	m.messages.WithLabelValues(kind, direction).Inc()
	m.bytes.WithLabelValues(kind, direction).Add(float64(n))
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ote_hub_tunnel_sessions", Help: "Agent sessions open on this hub.",
		}),
		revision: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ote_hub_desired_revision", Help: "Newest desired-state revision this hub has read.",
		}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ote_hub_tunnel_messages_total", Help: "Tunnel messages, by kind and direction (in, out).",
		}, []string{"kind", "direction"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ote_hub_tunnel_bytes_total", Help: "Bytes of tunnel messages, by kind and direction (in, out).",
		}, []string{"kind", "direction"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ote_hub_tunnel_sessions_closed_total", Help: "Sessions closed by the hub, by reason.",
		}, []string{"reason"}),
		drift: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ote_hub_drift_total", Help: "Out-of-band changes of applied workloads that agents reported, by action (corrected, reported).",
		}, []string{"action"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.sessions, m.revision, m.messages, m.bytes, m.refused, m.drift} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
