package api

import (
	"bytes"
	"errors"
	"io"

	"github.com/gofiber/fiber/v2"
)

// Request bodies are streamed (fiber's StreamRequestBody): fasthttp reads
// the headers and at most 8 KiB of the body before the handlers run, and
// each route reads the rest, bounded, only once it has decided to:
// unauthenticated routes up to smallBodyLimit (or --body-limit if smaller), authenticated ones up to
// Config.BodyLimit once the token is checked, chart uploads up to
// Config.ChartLimit once the token and role are. A declared Content-Length
// beyond the limit is refused without reading; a chunked body is read up to
// the limit and refused beyond it. An unread body closes the connection
// (its bytes would otherwise be parsed as the next request).

// smallBodyLimit bounds the bodies of routes that take no token (login,
// registration, joins, the registry's realm).
const smallBodyLimit = 64 << 10

const bodyReadKey = "ote.bodyRead"

// bodyGate sets the limit of unauthenticated routes, refuses bodies that
// no route accepts without reading them, and closes connections whose body
// was left unread.
func (s *server) bodyGate(c *fiber.Ctx) error {
	c.Locals(bodyLimitKey, min(smallBodyLimit, s.cfg.BodyLimit))
	n := c.Request().Header.ContentLength()
	if n > s.maxBody() {
		c.Context().SetConnectionClose()
		return tooLarge(s.maxBody())
	}
	// No GET route takes a body, and some hand the request to net/http
	// adaptors (/metrics) that would read one whole.
	if hasBody(n) && (c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead) {
		c.Context().SetConnectionClose()
		return errorf(fiber.StatusRequestEntityTooLarge, "%s requests take no body", c.Method())
	}
	err := c.Next()
	if c.Locals(bodyReadKey) == nil && hasBody(c.Request().Header.ContentLength()) && c.Context().RequestBodyStream() != nil {
		c.Context().SetConnectionClose()
	}
	return err
}

// hasBody tells from fasthttp's content length whether a request has a
// body: a length, or -1 for a chunked one (-2: none).
func hasBody(contentLength int) bool { return contentLength > 0 || contentLength == -1 }

// maxBody is the largest body any route accepts: a chart upload's form.
func (s *server) maxBody() int { return max(s.cfg.BodyLimit, s.cfg.ChartLimit+formOverhead) }

// formOverhead is what a chart upload's form may add to the archive
// (boundaries, part headers, appName and version).
const formOverhead = 64 << 10

func tooLarge(limit int) *Error {
	return errorf(fiber.StatusRequestEntityTooLarge, "request body is larger than %d bytes, the limit of this route", limit)
}

// readBody returns the request body, reading at most the route's limit
// (bodyLimitKey); beyond it the answer is 413.
func readBody(c *fiber.Ctx) ([]byte, error) {
	if c.Locals(bodyReadKey) != nil {
		return c.Body(), nil
	}
	limit, _ := c.Locals(bodyLimitKey).(int)
	if limit <= 0 {
		limit = smallBodyLimit
	}
	if c.Request().Header.ContentLength() > limit {
		c.Context().SetConnectionClose()
		return nil, tooLarge(limit)
	}
	r := c.Context().RequestBodyStream()
	if r == nil {
		// Not streamed (a request converted from net/http): in memory.
		if len(c.Body()) > limit {
			return nil, tooLarge(limit)
		}
		c.Locals(bodyReadKey, true)
		return c.Body(), nil
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1)); err != nil {
		c.Context().SetConnectionClose()
		return nil, errorf(fiber.StatusBadRequest, "reading the request body: %v", err)
	}
	if buf.Len() > limit {
		c.Context().SetConnectionClose()
		return nil, tooLarge(limit)
	}
	c.Request().SetBodyRaw(buf.Bytes())
	c.Locals(bodyReadKey, true)
	return buf.Bytes(), nil
}

// bodyStream is the unread body for handlers that parse it as they read
// (chart uploads), bounded by limit: reading beyond it fails with
// errBodyTooLarge.
func bodyStream(c *fiber.Ctx, limit int) (io.Reader, error) {
	if c.Request().Header.ContentLength() > limit {
		c.Context().SetConnectionClose()
		return nil, tooLarge(limit)
	}
	var r io.Reader = c.Context().RequestBodyStream()
	if r == nil {
		r = bytes.NewReader(c.Body())
	}
	return &limitedReader{r: r, left: int64(limit)}, nil
}

// errBodyTooLarge is what a limitedReader returns past its limit; its
// reader says which limit in its 413.
var errBodyTooLarge = errors.New("request body too large")

// limitedReader fails with errBodyTooLarge when its source has more than
// left bytes (io.LimitReader would end quietly, a truncated form).
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, errBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
