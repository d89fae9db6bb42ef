package protocol

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every released version's golden messages decode with today's codec,
// whole: nothing a peer of an older version sends is refused or dropped.
func TestGoldenMessagesOfEveryVersion(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/v*")
	if len(dirs) < Version {
		t.Fatalf("golden messages for %d versions, want one folder per version up to %d", len(dirs), Version)
	}
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(files) == 0 {
			t.Fatalf("%s holds no golden messages", dir)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Decode([]byte(strings.TrimSpace(string(b))))
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			if len(m.Skipped) > 0 {
				t.Errorf("%s: today's codec drops %v", f, m.Skipped)
			}
		}
	}
}

func TestSkewRules(t *testing.T) {
	if !Serves(Version) || !Serves(Version-1) || Serves(MinVersion-1) || !Serves(Version+1) {
		t.Fatal("a hub serves its own version, the previous one and newer agents, and no older")
	}
	if Speak(Version+1) != Version || Speak(1) != 1 {
		t.Fatal("an agent speaks the lower of its version and the hub's")
	}
	if KnowsApplying(1) || !KnowsApplying(2) {
		t.Fatal("StateApplying is version 2's")
	}
}

// What a newer peer adds is ignored, not refused: unknown fields (by
// encoding/json), item kinds and states (dropped into Skipped); an unknown
// message kind is ErrUnknownKind, which receivers log and ignore.
func TestDecodeIgnoresWhatANewerPeerAdds(t *testing.T) {
	m, err := Decode([]byte(`{"kind":"desired","future":1,"desired":{"items":[{"kind":"pod","name":"x","revision":2},{"kind":"namespace","name":"ns1","revision":3,"shiny":true}],"upTo":3}}`))
	if err != nil || len(m.Desired.Items) != 1 || m.Desired.Items[0].Name != "ns1" || len(m.Skipped) != 1 || !strings.Contains(m.Skipped[0], "pod/x") {
		t.Fatalf("desired with an unknown item kind: %+v %v", m, err)
	}
	m, err = Decode([]byte(`{"kind":"status","status":{"items":[{"kind":"namespace","name":"a","revision":1,"state":"meh"},{"kind":"namespace","name":"b","revision":1,"state":"applied"}],"appliedRevision":1}}`))
	if err != nil || len(m.Status.Items) != 1 || m.Status.Items[0].Name != "b" || len(m.Skipped) != 1 || !strings.Contains(m.Skipped[0], `"meh"`) {
		t.Fatalf("status with an unknown state: %+v %v", m, err)
	}
	if b, _ := Encode(m); strings.Contains(string(b), "meh") || strings.Contains(string(b), "kipped") {
		t.Fatalf("Skipped travels: %s", b)
	}
}
