package api

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// chartForm is what a chart upload carries.
type chartForm struct {
	appName, version *string
	chart            []byte
}

// maxFormField bounds the text fields of a chart upload.
const maxFormField = 1 << 10

// chartBusyRetry is the Retry-After of an upload refused because
// Config.ChartUploads are in progress.
const chartBusyRetry = 5 * time.Second

// formBoundary checks that ct is multipart/form-data and returns its
// boundary.
func formBoundary(ct string) (string, error) {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.EqualFold(mt, fiber.MIMEMultipartForm) || params["boundary"] == "" {
		return "", errorf(fiber.StatusUnsupportedMediaType, "Content-Type must be multipart/form-data with fields appName, version and chart")
	}
	return params["boundary"], nil
}

// chartSlot takes one of the Config.ChartUploads slots, or answers 503 with
// Retry-After when none is free.
func (s *server) chartSlot() (release func(), err error) {
	select {
	case s.chartSlots <- struct{}{}:
		return func() { <-s.chartSlots }, nil
	default:
		return nil, &Error{Status: fiber.StatusServiceUnavailable, Message: "too many chart uploads in progress; try again shortly", RetryAfter: chartBusyRetry}
	}
}

// readChartForm parses the form as it reads the body: the archive at most
// ChartLimit bytes, text fields at most maxFormField, the whole body at
// most ChartLimit+formOverhead. Other parts are skipped.
func (s *server) readChartForm(c *fiber.Ctx, boundary string) (*chartForm, error) {
	limit := s.cfg.ChartLimit + formOverhead
	body, err := bodyStream(c, limit)
	if err != nil {
		return nil, err
	}
	tooBig := func(err error) error {
		if errors.Is(err, errBodyTooLarge) {
			c.Context().SetConnectionClose()
			return tooLarge(limit)
		}
		c.Context().SetConnectionClose()
		return invalid("chart", "the multipart form does not parse: %v", err)
	}
	mr := multipart.NewReader(body, boundary)
	var f chartForm
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, tooBig(err)
		}
		switch p.FormName() {
		case "appName", "version":
			b, err := io.ReadAll(io.LimitReader(p, maxFormField+1))
			if err != nil {
				return nil, tooBig(err)
			}
			if len(b) > maxFormField {
				return nil, invalid(p.FormName(), "is longer than %d bytes", maxFormField)
			}
			v := string(b)
			if v == "" {
				continue
			}
			if p.FormName() == "appName" {
				f.appName = &v
			} else {
				f.version = &v
			}
		case "chart":
			var buf bytes.Buffer
			n, err := buf.ReadFrom(io.LimitReader(p, int64(s.cfg.ChartLimit)+1))
			if err != nil {
				return nil, tooBig(err)
			}
			if n > int64(s.cfg.ChartLimit) {
				c.Context().SetConnectionClose()
				return nil, errorf(fiber.StatusRequestEntityTooLarge, "chart: the archive is larger than %d bytes (--chart-limit)", s.cfg.ChartLimit)
			}
			f.chart = buf.Bytes()
		default:
			if _, err := io.Copy(io.Discard, p); err != nil {
				return nil, tooBig(err)
			}
		}
	}
	// The epilogue after the last boundary, then the body is consumed and
	// the connection may serve another request.
	if _, err := io.Copy(io.Discard, body); err == nil {
		c.Locals(bodyReadKey, true)
	}
	return &f, nil
}

// checkUnpacked decompresses archive into nothing, refusing it (413) when
// it holds more than limit bytes: a gzip bomb is refused in constant
// memory, before Helm's loader would hold its files.
func checkUnpacked(archive []byte, limit int64) error {
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return invalid("chart", "not a valid Helm chart: not a gzip archive: %v", err)
	}
	defer zr.Close()
	n, err := io.Copy(io.Discard, io.LimitReader(zr, limit+1))
	if n > limit {
		return errorf(fiber.StatusRequestEntityTooLarge, "chart: the archive decompresses to more than %d bytes (--chart-unpacked-limit)", limit)
	}
	if err != nil {
		return invalid("chart", "not a valid Helm chart: the archive does not decompress: %v", err)
	}
	return nil
}
