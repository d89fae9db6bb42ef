package secrets

import (
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	s, err := New([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	c1 := s.Seal("p4ssw0rd", "repo:1")
	c2 := s.Seal("p4ssw0rd", "repo:1")
	if c1 == c2 || strings.Contains(c1, "p4ssw0rd") {
		t.Fatalf("ciphertexts %q %q", c1, c2)
	}
	if pt, err := s.Open(c1, "repo:1"); err != nil || pt != "p4ssw0rd" {
		t.Fatalf("open: %q %v", pt, err)
	}
	if _, err := s.Open(c1, "repo:2"); err == nil {
		t.Fatal("opened with another context")
	}
	other, _ := New([]byte(strings.Repeat("x", 32)))
	if _, err := other.Open(c1, "repo:1"); err == nil {
		t.Fatal("opened with another key")
	}
	for _, bad := range []string{"", "v1:", "v1:!!!", "v2:abcd", c1[:len(c1)-4]} {
		if _, err := s.Open(bad, "repo:1"); err == nil {
			t.Fatalf("opened %q", bad)
		}
	}
	if s.Fingerprint("a", "b") == s.Fingerprint("ab", "") || s.Fingerprint("a") != s.Fingerprint("a") || other.Fingerprint("a") == s.Fingerprint("a") {
		t.Fatal("fingerprint")
	}
	if _, err := New([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}
