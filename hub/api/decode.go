package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/ote-stack/ote/hub/store"
)

const bodyLimitKey = "ote.bodyLimit"

// decodeJSON reads the request body into v. Bodies must be JSON (a missing
// Content-Type is taken as JSON); problems are 415 or 422 naming what is wrong.
func decodeJSON(c *fiber.Ctx, v any) error {
	if ct := c.Get(fiber.HeaderContentType); ct != "" && !strings.HasPrefix(strings.ToLower(ct), fiber.MIMEApplicationJSON) {
		return errorf(fiber.StatusUnsupportedMediaType, "Content-Type must be application/json, not %q", clip(ct))
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(fiber.StatusUnprocessableEntity, "request body is empty: expected a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(fiber.StatusUnprocessableEntity, "invalid JSON: unexpected data after the object")
	}
	return checkIDs(reflect.ValueOf(v), "")
}

func jsonError(err error) *Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return errorf(fiber.StatusUnprocessableEntity, "invalid JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return errorf(fiber.StatusUnprocessableEntity, "invalid JSON: expected an object, got %s", typ.Value)
		}
		return invalid(typ.Field, "must be %s, got %s", jsonType(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(fiber.StatusUnprocessableEntity, "invalid JSON: unexpected end of input")
	default:
		return errorf(fiber.StatusUnprocessableEntity, "invalid JSON: %v", err)
	}
}

func jsonType(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "bool":
		return "a boolean"
	case kind == "string":
		return "a string"
	case kind == "slice":
		return "an array"
	default:
		return "a " + kind
	}
}

// requireString checks a required string field: present, not blank, at most
// max characters, no control characters. It returns the trimmed value.
func requireString(field string, v *string, max int) (string, error) {
	if v == nil {
		return "", invalid(field, "is required")
	}
	s := strings.TrimSpace(*v)
	if s == "" {
		return "", invalid(field, "must not be empty")
	}
	return s, checkText(field, s, max)
}

func checkText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return invalid(field, "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalid(field, "must be at most %d characters, got %d", max, n)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
			return invalid(field, "must not contain control characters")
		}
	}
	return nil
}

// maxID is the largest id the database holds: ids are signed 64-bit
// integers in SQLite and PostgreSQL.
const maxID = math.MaxInt64

// pathID parses a positive integer path parameter. An id beyond the
// database's range names nothing: 404.
func pathID(c *fiber.Ctx, name string) (uint64, error) {
	raw := c.Params(name)
	id, err := strconv.ParseUint(raw, 10, 64)
	if errors.Is(err, strconv.ErrRange) || err == nil && id > maxID {
		return 0, notFound("%s %s not found: ids go up to %d", name, clip(raw), uint64(maxID))
	}
	if err != nil || id == 0 {
		return 0, invalid(name, "must be a positive integer, got %q", clip(raw))
	}
	return id, nil
}

// checkIDs refuses unsigned integers of a decoded body that are beyond the
// database's range (encoding/json accepts up to 2^64-1), naming the field:
// every id of every body is checked here, once.
func checkIDs(v reflect.Value, field string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return checkIDs(v.Elem(), field)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if f.Anonymous {
				name = field
			}
			if err := checkIDs(v.Field(i), name); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := checkIDs(v.Index(i), field); err != nil {
				return err
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if err := checkIDs(it.Value(), field); err != nil {
				return err
			}
		}
	case reflect.Uint, reflect.Uint64:
		if v.Uint() > maxID {
			return invalid(field, "must be at most %d, got %d", uint64(maxID), v.Uint())
		}
	}
	return nil
}

// maxPageSize bounds pages of lists whose seed does not allow "no limit".
const maxPageSize = 1000

// maxOffset bounds the rows a page may skip: beyond it (page-1)*pageSize
// overflows, or no database table has that many rows.
const maxOffset = math.MaxInt64

// parsePage reads page (default 1) and pageSize (default def). pageSize 0
// means "no limit" only where the seed says so (zeroUnlimited).
func parsePage(c *fiber.Ctx, def int, zeroUnlimited bool) (store.Page, error) {
	page, err := queryInt(c, "page", 1)
	if err != nil {
		return store.Page{}, err
	}
	if page < 1 {
		return store.Page{}, invalid("page", "must be 1 or more, got %d", page)
	}
	size, err := queryInt(c, "pageSize", def)
	if err != nil {
		return store.Page{}, err
	}
	switch {
	case size == 0 && zeroUnlimited:
		return store.Page{}, nil
	case size < 1 || size > maxPageSize:
		return store.Page{}, invalid("pageSize", "must be between 1 and %d, got %d", maxPageSize, size)
	}
	if page-1 > maxOffset/size {
		return store.Page{}, invalid("page", "is too large: page %d of %d items starts beyond the last row a list can have", page, size)
	}
	return store.Page{Offset: (page - 1) * size, Limit: size}, nil
}

func queryInt(c *fiber.Ctx, name string, def int) (int, error) {
	raw := c.Query(name)
	if raw == "" {
		return def, nil
	}
	v, err := strconv.Atoi(raw)
	if err != nil {
		return 0, invalid(name, "must be an integer, got %q", raw)
	}
	return v, nil
}

// parseOrder reads order: asc or desc (def when absent).
func parseOrder(c *fiber.Ctx, def string) (desc bool, err error) {
	switch o := strings.ToLower(c.Query("order", def)); o {
	case "asc":
		return false, nil
	case "desc":
		return true, nil
	default:
		return false, invalid("order", "must be asc or desc, got %q", o)
	}
}

// parseOrderBy reads orderBy among allowed (the first is the default).
func parseOrderBy(c *fiber.Ctx, allowed ...string) (string, error) {
	v := c.Query("orderBy", allowed[0])
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", invalid("orderBy", "must be one of %s, got %q", strings.Join(allowed, ", "), v)
}

// parseIDList reads the paging and ordering of lists sorted by id only:
// page, pageSize (default 10; 0 is no limit where zeroUnlimited), orderBy
// (only "id") and order (default def).
func parseIDList(c *fiber.Ctx, zeroUnlimited bool, def string) (store.Page, bool, error) {
	page, err := parsePage(c, 10, zeroUnlimited)
	if err != nil {
		return page, false, err
	}
	if _, err := parseOrderBy(c, "id"); err != nil {
		return page, false, err
	}
	desc, err := parseOrder(c, def)
	return page, desc, err
}

// fieldsOf lists the JSON field names of a response type.
func fieldsOf(v any) map[string]bool {
	b, _ := json.Marshal(v)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// required is *v, or 422 naming field when it is absent.
func required[T any](field string, v *T) (T, error) {
	if v == nil {
		var zero T
		return zero, invalid(field, "is required")
	}
	return *v, nil
}
