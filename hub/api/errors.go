package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/hub/deploy"
	"github.com/ote-stack/ote/hub/store"
)

// Error is an error with the HTTP status and the message shown to the client.
// Cause, when set, is logged but never sent.
type Error struct {
	Status     int
	Message    string
	Cause      error
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Message, e.Cause)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

func errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) *Error {
	return &Error{Status: fiber.StatusUnprocessableEntity, Message: field + ": " + fmt.Sprintf(format, args...)}
}

func unauthorized(msg string) *Error { return &Error{Status: fiber.StatusUnauthorized, Message: msg} }
func forbidden(msg string) *Error    { return &Error{Status: fiber.StatusForbidden, Message: msg} }
func notFound(format string, args ...any) *Error {
	return errorf(fiber.StatusNotFound, format, args...)
}
func conflict(format string, args ...any) *Error {
	return errorf(fiber.StatusConflict, format, args...)
}

// envelope is the shape of every response body.
type envelope struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data"`
	Total   *int64 `json:"total,omitempty"`
	// ReadyNodeCount is set by GET /v1/node.
	ReadyNodeCount *int64 `json:"readyNodeCount,omitempty"`
}

func ok(c *fiber.Ctx, data any) error {
	return c.JSON(envelope{Code: 0, Message: "success", Data: data})
}

func created(c *fiber.Ctx, data any) error {
	return c.Status(fiber.StatusCreated).JSON(envelope{Code: 0, Message: "success", Data: data})
}

// list answers a page of items; items must be a non-nil slice so that an empty
// page is [] and not null.
func list(c *fiber.Ctx, items any, total int64) error {
	return c.JSON(envelope{Code: 0, Message: "success", Data: items, Total: &total})
}

// Retry-After of refusals during an outage: a restarting database is
// usually back within seconds; a full disk waits for an operator.
const (
	outageRetry      = 2 * time.Second
	storageFullRetry = 30 * time.Second
)

// refusal is what an error becomes for a client: a status, the message
// shown and, for refusals worth retrying, when to come back. It is the one
// place where errors become status codes, for the API (handleError) and the
// tunnel's upgrade (httpError).
func refusal(err error) (status int, msg string, retryAfter time.Duration) {
	status, msg = fiber.StatusInternalServerError, "internal error"
	var apiErr *Error
	var fe *fiber.Error
	var field *deploy.FieldError
	var stateErr *deploy.StateError
	switch {
	case errors.As(err, &apiErr):
		return apiErr.Status, apiErr.Message, apiErr.RetryAfter
	case errors.As(err, &field):
		return fiber.StatusUnprocessableEntity, field.Error(), 0
	case errors.As(err, &stateErr):
		return fiber.StatusConflict, stateErr.Message, 0
	case errors.As(err, &fe):
		return fe.Code, fe.Message, 0
	case errors.Is(err, store.ErrNotFound):
		return fiber.StatusNotFound, "not found", 0
	case errors.Is(err, context.DeadlineExceeded):
		return fiber.StatusServiceUnavailable, "the request took too long; try again", time.Second
	}
	// A database that cannot serve is the platform's trouble, not the
	// request's: say so and when to come back, never "internal error".
	switch store.OutageOf(err) {
	case store.Unavailable:
		return fiber.StatusServiceUnavailable, "the database is unavailable; try again shortly", outageRetry
	case store.StorageFull:
		return fiber.StatusInsufficientStorage, "the hub's storage is full; nothing was written", storageFullRetry
	}
	return status, msg, 0
}

func setRetryAfter(set func(k, v string), d time.Duration) {
	if d > 0 {
		set(fiber.HeaderRetryAfter, strconv.Itoa(int((d+time.Second-1)/time.Second)))
	}
}

// handleError is fiber's ErrorHandler: errors become envelopes.
func (s *server) handleError(c *fiber.Ctx, err error) error {
	status, msg, retry := refusal(err)
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fiber.StatusNotFound:
			msg = "no route for " + c.Method() + " " + c.Path()
		case fiber.StatusMethodNotAllowed:
			msg = "method " + c.Method() + " is not allowed on " + c.Path()
		case fiber.StatusRequestEntityTooLarge:
			msg = fmt.Sprintf("request body is larger than %d bytes", s.maxBody())
		}
	}
	setRetryAfter(func(k, v string) { c.Set(k, v) }, retry)
	c.Locals(errorMessageKey, msg)
	if status >= 500 {
		s.log.Error("request failed", "method", c.Method(), "path", c.Path(), "status", status, "err", err)
	} else {
		s.log.Debug("request refused", "method", c.Method(), "path", c.Path(), "status", status, "reason", msg)
	}
	return c.Status(status).JSON(envelope{Code: status, Message: msg})
}
