package protocol

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	spec, _ := json.Marshal(NodeLabelSpec{Node: "n1", Label: "gpu"})
	msgs := []*Message{
		{Kind: KindHello, Hello: &Hello{ProtocolVersion: Version, AppliedRevision: 7}},
		{Kind: KindWelcome, Welcome: &Welcome{ProtocolVersion: Version, HeartbeatMillis: 10000, Revision: 9}},
		{Kind: KindDesired, Desired: &Desired{UpTo: 9, Resync: true, Items: []Item{
			{ItemKey: ItemKey{Kind: ItemNamespace, Name: "ns1"}, Revision: 8},
			{ItemKey: ItemKey{Kind: ItemNodeLabel, Name: "n1/gpu"}, Revision: 9, Spec: spec},
		}}},
		{Kind: KindStatus, Status: &Status{AppliedRevision: 9, Items: []ItemStatus{{ItemKey: ItemKey{Kind: ItemNamespace, Name: "ns1"}, Revision: 8, State: StateApplied}}}},
		{Kind: KindStatus, Status: &Status{AppliedRevision: 9, Items: []ItemStatus{{ItemKey: ItemKey{Kind: ItemWorkload, Name: "ns1/web"}, Revision: 9, State: StateApplying}}}},
		{Kind: KindInventory, Inventory: &Inventory{Full: true, Nodes: []Node{{Name: "n1", CPU: 4, Memory: 8 << 30, Ready: true}}}},
		{Kind: KindHeartbeat, Heartbeat: &Heartbeat{UnixMillis: 1}},
		{Kind: KindError, Error: &Error{Code: ErrCodeBadMessage, Message: "x"}},
	}
	for _, m := range msgs {
		b, err := Encode(m)
		if err != nil {
			t.Fatalf("encode %s: %v", m.Kind, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("decode %s: %v", m.Kind, err)
		}
		again, _ := Encode(got)
		if string(again) != string(b) {
			t.Fatalf("%s does not round-trip:\n%s\n%s", m.Kind, b, again)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	cases := map[string]string{
		`{"kind":"teleport","hello":{}}`:                                "unknown message kind",
		`{"kind":"hello"}`:                                              "exactly its own body",
		`{"kind":"hello","hello":{},"welcome":{}}`:                      "exactly its own body",
		`{"kind":"desired","desired":{"items":[{"kind":"namespace"}]}}`: "without a name",
		`{"kind":"inventory","inventory":{"nodes":[{"cpu":1}]}}`:        "without a name",
		`{"kind":"hello","hello":{}} {}`:                                "after the message",
		`{"kind":`:                                                      "malformed",
		`[]`:                                                            "malformed",
	}
	for in, want := range cases {
		_, err := Decode([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%s) = %v, want error containing %q", in, err, want)
		}
	}
	big := make([]byte, MaxMessageSize+1)
	if _, err := Decode(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	if _, err := Decode([]byte(`{"kind":"nope","error":{}}`)); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("unknown kind is not ErrUnknownKind: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.json")
	versioned, _ := filepath.Glob("testdata/v*/*.json")
	seeds = append(seeds, versioned...)
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"kind":"hello","hello":{"protocolVersion":1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes must encode and decode to the same message.
		out, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		if _, err := Decode(out); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}
