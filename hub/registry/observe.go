package registry

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
)

// Observer hears of the manifests that the embedded registry accepted or
// deleted, before the client sees the answer: the hub's image index follows
// pushes without waiting for a resync.
type Observer interface {
	// ManifestPushed: name:reference now points at digest (reference is a
	// tag or the digest itself).
	ManifestPushed(ctx context.Context, name, reference, digest string)
	// ManifestDeleted: reference (a tag, or a digest and every tag on it)
	// is gone from name.
	ManifestDeleted(ctx context.Context, name, reference string)
}

// observe passes manifest PUTs and DELETEs of h to o once h succeeded.
func observe(h http.Handler, o Observer, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ref, ok := manifestPath(r.URL.Path)
		if !ok || (r.Method != http.MethodPut && r.Method != http.MethodDelete) {
			h.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		// A client that went away must not stop the index's update.
		ctx := context.WithoutCancel(r.Context())
		switch {
		case r.Method == http.MethodPut && rec.status == http.StatusCreated:
			o.ManifestPushed(ctx, name, ref, w.Header().Get("Docker-Content-Digest"))
		case r.Method == http.MethodDelete && rec.status == http.StatusAccepted:
			o.ManifestDeleted(ctx, name, ref)
		default:
			log.Debug("registry manifest request not indexed", "method", r.Method, "name", name, "status", rec.status)
		}
	})
}

// manifestPath splits "/v2/<name>/manifests/<reference>".
func manifestPath(p string) (name, ref string, ok bool) {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/manifests/")
	if i <= 0 {
		return "", "", false
	}
	name, ref = rest[:i], rest[i+len("/manifests/"):]
	return name, ref, ref != "" && !strings.Contains(ref, "/")
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
