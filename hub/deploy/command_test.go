package deploy

import (
	"fmt"
	"testing"
)

func TestSplitCommand(t *testing.T) {
	for in, want := range map[string]string{
		`/app --port 80`:                  `["/app" "--port" "80"]`,
		`  /app   "hello world"  `:        `["/app" "hello world"]`,
		`sh -c 'echo "$HOME" && sleep 1'`: `["sh" "-c" "echo \"$HOME\" && sleep 1"]`,
		`a\ b "c\"d" ''`:                  `["a b" "c\"d" ""]`,
		``:                                `[]`,
	} {
		got, err := SplitCommand(in)
		if err != nil || fmt.Sprintf("%q", got) != want {
			t.Errorf("SplitCommand(%q) = %q, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{`"open`, `'open`, `trailing\`} {
		if _, err := SplitCommand(bad); err == nil {
			t.Errorf("SplitCommand(%q) accepted", bad)
		}
	}
}
