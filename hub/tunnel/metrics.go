package tunnel

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	sessions prometheus.Gauge
	revision prometheus.Gauge
	messages *prometheus.CounterVec
	refused  *prometheus.CounterVec
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
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ote_hub_tunnel_sessions_closed_total", Help: "Sessions closed by the hub, by reason.",
		}, []string{"reason"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.sessions, m.revision, m.messages, m.refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
