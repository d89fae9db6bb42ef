// Package readmecheck reads the README's configuration tables, so that the
// binaries' tests can check them against the flags the binaries define:
// a flag added, renamed or given another default without its row fails
// the test of its binary.
package readmecheck

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// Row is one flag of a table: its environment variable and default, as
// the README writes them ("" when the cell is empty or not one literal).
type Row struct {
	Env, Default string
}

var code = regexp.MustCompile("`([^`]*)`")

// Table reads the table that follows the line containing after, in the
// README at path: flag name (without dashes) → row. A cell naming several
// flags ("`--a`, `--b`") gives each its env and default by position.
func Table(path, after string) (map[string]Row, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	text := string(b)
	i := strings.Index(text, after)
	if i < 0 {
		return nil, fmt.Errorf("%s has no %q", path, after)
	}
	rows := map[string]Row{}
	started := false
	for _, line := range strings.Split(text[i:], "\n")[1:] {
		if !strings.HasPrefix(line, "|") {
			if started {
				break
			}
			continue
		}
		started = true
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.Contains(cells[1], "`-") {
			continue
		}
		flags := code.FindAllStringSubmatch(cells[1], -1)
		envs := code.FindAllStringSubmatch(cells[2], -1)
		defs := code.FindAllStringSubmatch(cells[3], -1)
		literal := strings.TrimSpace(cells[3])
		j := -1
		for _, f := range flags {
			if !strings.HasPrefix(f[1], "--") {
				continue // a shorthand (-o) beside its flag
			}
			j++
			name := strings.TrimLeft(strings.Fields(f[1])[0], "-")
			var r Row
			if j < len(envs) {
				r.Env = envs[j][1]
			}
			// A default is compared only where the cell is literals alone.
			if j < len(defs) && code.ReplaceAllString(literal, "") == strings.Repeat(", ", len(defs)-1) {
				r.Default = defs[j][1]
			}
			rows[name] = r
		}
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no flag rows after %q", after)
	}
	return rows, nil
}

var envInUsage = regexp.MustCompile(`\(env ([A-Z_]+)\)`)

// Compare lists the differences between fs (flags bound with
// pkg/flagenv, whose usage ends with "(env NAME)") and rows; extra are
// flags defined elsewhere (main's --version) that the table has too.
func Compare(fs *flag.FlagSet, rows map[string]Row, extra ...string) []string {
	var diffs []string
	seen := map[string]bool{}
	for _, e := range extra {
		seen[e] = true
		if _, ok := rows[e]; !ok {
			diffs = append(diffs, fmt.Sprintf("--%s has no row", e))
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		seen[f.Name] = true
		r, ok := rows[f.Name]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("--%s has no row", f.Name))
			return
		}
		if m := envInUsage.FindStringSubmatch(f.Usage); m != nil && r.Env != m[1] {
			diffs = append(diffs, fmt.Sprintf("--%s reads %s, the row says %q", f.Name, m[1], r.Env))
		}
		if r.Default != "" && !strings.Contains(r.Default, "<") && !sameValue(r.Default, f.DefValue) {
			diffs = append(diffs, fmt.Sprintf("--%s defaults to %q, the row says %q", f.Name, f.DefValue, r.Default))
		}
	})
	for name := range rows {
		if !seen[name] {
			diffs = append(diffs, fmt.Sprintf("the row of --%s names no flag", name))
		}
	}
	return diffs
}

// sameValue: equal, or the same duration written two ways (10m, 10m0s).
func sameValue(a, b string) bool {
	if a == b {
		return true
	}
	da, err1 := time.ParseDuration(a)
	db, err2 := time.ParseDuration(b)
	return err1 == nil && err2 == nil && da == db
}
