package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"
)

func decode(raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return &cliError{code: exitUnavailable, msg: fmt.Sprintf("the hub's answer is not what otectl expects: %v", err)}
	}
	return nil
}

// column is one column of a table: its header and how to show a field.
type column struct {
	header string
	field  string
	// show formats the value (nil: as it is).
	show func(v any) string
}

func col(header, field string) column { return column{header: header, field: field} }

func colWith(header, field string, show func(any) string) column {
	return column{header: header, field: field, show: show}
}

// enumOf shows a status number with its name: 5 is "success".
func enumOf(names map[int]string) func(any) string {
	return func(v any) string {
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Sprint(v)
		}
		i, _ := n.Int64()
		if name, ok := names[int(i)]; ok {
			return name
		}
		return n.String()
	}
}

func unixTime(v any) string {
	n, ok := v.(json.Number)
	if !ok {
		return fmt.Sprint(v)
	}
	i, _ := n.Int64()
	if i == 0 {
		return "-"
	}
	return time.Unix(i, 0).UTC().Format("2006-01-02 15:04:05")
}

func bytesSize(v any) string {
	n, ok := v.(json.Number)
	if !ok {
		return fmt.Sprint(v)
	}
	f, _ := n.Float64()
	for _, u := range []string{"B", "KiB", "MiB", "GiB", "TiB"} {
		if f < 1024 || u == "TiB" {
			if u == "B" {
				return fmt.Sprintf("%.0f%s", f, u)
			}
			return fmt.Sprintf("%.1f%s", f, u)
		}
		f /= 1024
	}
	return n.String()
}

var (
	userStatus   = map[int]string{0: "pending", 1: "approved", 2: "not-approved", 3: "forbidden"}
	bizStatus    = map[int]string{0: "pending", 1: "approved", 2: "disapproved", 3: "deleted"}
	deployStatus = map[int]string{0: "pending", 1: "approved", 2: "disapproved", 3: "processing", 4: "deploying",
		5: "success", 6: "partial-success", 7: "failed", 8: "internal-error", 9: "deleted"}
	deployType  = map[int]string{1: "new", 2: "upgrade", 3: "rollback", 4: "delete"}
	auditStatus = map[int]string{0: "pending", 1: "approved", 2: "disapproved"}
	roleNames   = map[int]string{0: "pending", 1: "approved", 2: "user", 3: "business-admin", 4: "system-admin"}
)

// print shows an answer's data: a table of cols for lists and objects, or
// the data as JSON or YAML (-o). total, for lists, goes under the table.
func (a *app) print(env *envelope, cols []column) error {
	switch a.output {
	case "json":
		var buf bytes.Buffer
		if err := json.Indent(&buf, env.Data, "", "  "); err != nil {
			return decode(env.Data, new(any))
		}
		buf.WriteByte('\n')
		_, err := a.out.Write(buf.Bytes())
		return err
	case "yaml":
		y, err := yaml.JSONToYAML(env.Data)
		if err != nil {
			return decode(env.Data, new(any))
		}
		_, err = a.out.Write(y)
		return err
	}
	if cols == nil || string(env.Data) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(env.Data))
	dec.UseNumber()
	var data any
	if err := dec.Decode(&data); err != nil {
		return decode(env.Data, new(any))
	}
	var rows []map[string]any
	switch d := data.(type) {
	case []any:
		for _, item := range d {
			if m, ok := item.(map[string]any); ok {
				rows = append(rows, m)
			} else {
				rows = append(rows, map[string]any{"": item})
			}
		}
	case map[string]any:
		rows = []map[string]any{d}
	default:
		fmt.Fprintln(a.out, data)
		return nil
	}
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	var hdr []string
	for _, c := range cols {
		hdr = append(hdr, c.header)
	}
	fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	for _, r := range rows {
		cells := make([]string, len(cols))
		for i, c := range cols {
			v, ok := r[c.field]
			switch {
			case !ok || v == nil:
				cells[i] = "-"
			case c.show != nil:
				cells[i] = c.show(v)
			default:
				cells[i] = cell(v)
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if env.Total != nil && *env.Total > int64(len(rows)) {
		fmt.Fprintf(a.out, "(%d of %d: see --page and --page-size)\n", len(rows), *env.Total)
	}
	return nil
}

// cell shows a value on one line: lists joined with commas, tabs and
// line breaks as spaces.
func cell(v any) string {
	switch x := v.(type) {
	case []any:
		var parts []string
		for _, p := range x {
			parts = append(parts, cell(p))
		}
		if len(parts) == 0 {
			return "-"
		}
		return strings.Join(parts, ",")
	case string:
		if x == "" {
			return "-"
		}
		return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(x)
	}
	return fmt.Sprint(v)
}

func jsonNumber(i int) json.Number { return json.Number(strconv.Itoa(i)) }
