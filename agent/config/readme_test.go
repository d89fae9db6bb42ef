package config

import (
	"flag"
	"testing"

	"github.com/ote-stack/ote/test/readmecheck"
)

// TestReadmeReference: the README's table of the agent's flags is the flag
// set, with each flag's environment variable and default.
func TestReadmeReference(t *testing.T) {
	rows, err := readmecheck.Table("../../README.md", "### The agent's flags")
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	Default().Bind(fs, func(string) string { return "" })
	for _, d := range readmecheck.Compare(fs, rows, "version") {
		t.Error(d)
	}
}
