package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestFormats(t *testing.T) {
	var b bytes.Buffer
	New(&b, JSON, slog.LevelInfo).Info("hub listening", "addr", ":8080")
	New(&b, JSON, slog.LevelInfo).Debug("not shown")
	var rec map[string]any
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil || rec["msg"] != "hub listening" || rec["addr"] != ":8080" {
		t.Fatalf("json: %q %v", b.String(), err)
	}
	b.Reset()
	New(&b, Text, slog.LevelDebug).Debug("x", "k", "v")
	if !strings.Contains(b.String(), "level=DEBUG") || !strings.Contains(b.String(), "k=v") {
		t.Fatalf("text: %q", b.String())
	}
	if CheckFormat("yaml") == nil || CheckFormat(JSON) != nil || CheckFormat(Text) != nil {
		t.Fatal("CheckFormat")
	}
}
