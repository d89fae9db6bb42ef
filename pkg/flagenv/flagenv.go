// Package flagenv binds command-line flags that also read environment
// variables: the variable, when set, gives the flag's default, and the flag
// given on the command line wins.
package flagenv

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"time"
)

// Binder registers flags on FS, reading defaults through Getenv.
type Binder struct {
	FS     *flag.FlagSet
	Getenv func(string) string
	errs   []error
}

// Err reports environment variables whose values did not parse.
func (b *Binder) Err() error { return errors.Join(b.errs...) }

func usage(env, text string) string { return text + " (env " + env + ")" }

// String binds a string flag.
func (b *Binder) String(p *string, name, env, text string) {
	if v := b.Getenv(env); v != "" {
		*p = v
	}
	b.FS.StringVar(p, name, *p, usage(env, text))
}

// Int binds an integer flag.
func (b *Binder) Int(p *int, name, env, text string) {
	if v := b.Getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s=%q is not an integer", env, v))
		} else {
			*p = n
		}
	}
	b.FS.IntVar(p, name, *p, usage(env, text))
}

// Duration binds a duration flag.
func (b *Binder) Duration(p *time.Duration, name, env, text string) {
	if v := b.Getenv(env); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s=%q is not a duration", env, v))
		} else {
			*p = d
		}
	}
	b.FS.DurationVar(p, name, *p, usage(env, text))
}

// Bool binds a boolean flag.
func (b *Binder) Bool(p *bool, name, env, text string) {
	if v := b.Getenv(env); v != "" {
		x, err := strconv.ParseBool(v)
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s=%q is not a boolean", env, v))
		} else {
			*p = x
		}
	}
	b.FS.BoolVar(p, name, *p, usage(env, text))
}
