package api

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// auditFailures counts administrative writes whose audit entry could
	// not be recorded (each is also logged at error level).
	auditFailures prometheus.Counter
	// authFailures counts refused logins and tokens, by reason.
	authFailures *prometheus.CounterVec
}

// Reasons of ote_hub_auth_failures_total: a fixed set, so every series
// exists from the start.
const (
	authWrongPassword = "wrong_password"
	authThrottled     = "throttled"
	authNoToken       = "no_token"
	authBadToken      = "invalid_token"
	authExpired       = "expired_token"
	authRevoked       = "revoked_token"
	authStale         = "stale_token" // password changed, or the user is gone
	authAgent         = "agent_credential"
)

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ote_hub_http_requests_total",
			Help: "HTTP requests served, by method, route template and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ote_hub_http_request_duration_seconds",
			Help:    "HTTP request latency, by method, route template and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route", "status"}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ote_hub_audit_record_failures_total",
			Help: "Administrative writes whose audit entry could not be recorded.",
		}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ote_hub_auth_failures_total",
			Help: "Refused logins, user tokens and agent credentials, by reason.",
		}, []string{"reason"}),
	}
	for _, r := range []string{authWrongPassword, authThrottled, authNoToken, authBadToken, authExpired, authRevoked, authStale, authAgent} {
		m.authFailures.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.auditFailures, m.authFailures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe is the outermost middleware: it turns a handler's error into its
// response (so that the status is known here) and records the request under its
// route template, never its raw path, to keep label cardinality bounded.
func (s *server) observe(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := s.handleError(c, err); herr != nil {
			return herr
		}
	}
	status := c.Response().StatusCode()
	route := c.Route().Path
	if status == fiber.StatusNotFound && route == "/" || status == fiber.StatusMethodNotAllowed {
		route = "unmatched"
	}
	// fasthttp reuses the request buffers: copy before the strings outlive the request.
	labels := []string{strings.Clone(c.Method()), strings.Clone(route), strconv.Itoa(status)}
	s.metrics.requests.WithLabelValues(labels...).Inc()
	s.metrics.duration.WithLabelValues(labels...).Observe(time.Since(start).Seconds())
	return nil
}

func (s *server) metricsHandler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
}

func (s *server) metricsEndpoint(c *fiber.Ctx) error { return s.promHandler(c) }

func (s *server) healthz(c *fiber.Ctx) error {
	return ok(c, statusData{Status: "ok"})
}

// readyz answers 200 when the database answers.
func (s *server) readyz(c *fiber.Ctx) error {
	if err := s.store.Ping(c.UserContext()); err != nil {
		return &Error{Status: fiber.StatusServiceUnavailable, Message: "database is not reachable", Cause: err, RetryAfter: outageRetry}
	}
	return ok(c, statusData{Status: "ready"})
}
