package registry

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count the embedded registry's requests by method, kind of route
// and status (never the repository name: bounded labels).
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ote_hub_registry_requests_total",
			Help: "Requests served by the embedded image registry, by method, route kind and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ote_hub_registry_request_duration_seconds",
			Help:    "Latency of the embedded image registry, by method, route kind and status.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 15, 60},
		}, []string{"method", "route", "status"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// routeKind names the registry route of a path: base, catalog, tags,
// manifests, blobs, uploads, referrers, token or other.
func routeKind(p string) string {
	switch {
	case p == TokenPath:
		return "token"
	case p == "/v2/" || p == "/v2":
		return "base"
	case p == "/v2/_catalog":
		return "catalog"
	case !strings.HasPrefix(p, "/v2/"):
		return "other"
	case strings.Contains(p, "/blobs/uploads"):
		return "uploads"
	}
	for _, k := range []string{"manifests", "blobs", "tags", "referrers"} {
		if strings.Contains(p, "/"+k+"/") {
			return k
		}
	}
	return "other"
}

func (m *metrics) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start, route := time.Now(), routeKind(r.URL.Path)
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		l := prometheus.Labels{"method": r.Method, "route": route, "status": strconv.Itoa(rec.status)}
		m.requests.With(l).Inc()
		m.duration.With(l).Observe(time.Since(start).Seconds())
	})
}
