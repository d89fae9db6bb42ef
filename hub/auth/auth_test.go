package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestValidatePassword(t *testing.T) {
	for pw, ok := range map[string]bool{
		"Abcdefg1":              true,
		"Abcdefghijklmnopqrs1":  true,  // 20
		"Abcdefghijklmnopqrst1": false, // 21
		"Abcdef1":               false, // 7
		"abcdefg1":              false, // no upper
		"ABCDEFG1":              false, // no lower
		"Abcdefgh":              false, // no digit
		"":                      false,
	} {
		if err := ValidatePassword(pw); (err == nil) != ok {
			t.Errorf("ValidatePassword(%q) = %v, want ok=%v", pw, err, ok)
		}
	}
}

func TestHashAndCheck(t *testing.T) {
	h, err := HashPassword("Secret123")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(h), "Secret123") {
		t.Fatal("hash contains the password")
	}
	if !CheckPassword(h, "Secret123") || CheckPassword(h, "Secret124") || CheckPassword(nil, "Secret123") {
		t.Fatal("CheckPassword gave a wrong answer")
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		p := GeneratePassword()
		if err := ValidatePassword(p); err != nil || len(p) != 20 || seen[p] {
			t.Fatalf("generated %q: %v (dup %v)", p, err, seen[p])
		}
		seen[p] = true
	}
}

func TestTokens(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	now := time.Unix(1_800_000_000, 0)
	tk, err := NewTokens(key)
	if err != nil {
		t.Fatal(err)
	}
	tk.WithClock(func() time.Time { return now })
	s, c, err := tk.Issue(42, 7)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ExpiresAt.Sub(now); got != time.Hour {
		t.Fatalf("ttl = %v", got)
	}
	p, err := tk.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := p.UserID(); id != 42 || p.Generation != 7 || p.ID != c.ID {
		t.Fatalf("claims %+v", p)
	}
	_, c2, _ := tk.Issue(42, 7)
	if c2.ID == c.ID {
		t.Fatal("two tokens share an ID")
	}

	now = now.Add(time.Hour + time.Second)
	if _, err := tk.Parse(s); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired token: %v", err)
	}
	now = now.Add(-time.Hour)

	other, _ := NewTokens([]byte(strings.Repeat("x", 32)))
	if _, err := other.Parse(s); err == nil {
		t.Fatal("token verified with another key")
	}
	// alg=none and other algorithms are refused.
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if _, err := tk.Parse(none); err == nil {
		t.Fatal("alg none accepted")
	}
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, c).SignedString(key)
	if _, err := tk.Parse(hs512); err == nil {
		t.Fatal("HS512 accepted")
	}
	if _, err := NewTokens([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "jwt.key")
	k1, err := LoadOrCreateKey(path)
	if err != nil || len(k1) != 32 {
		t.Fatalf("create: %d bytes, %v", len(k1), err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode().Perm())
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || string(k1) != string(k2) {
		t.Fatal("key not kept across loads")
	}
	if st, _ := os.Stat(filepath.Dir(path)); st.Mode().Perm() != 0o700 {
		t.Fatalf("key directory mode %v", st.Mode().Perm())
	}
	os.Chmod(path, 0o644)
	if _, err := LoadOrCreateKey(path); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("existing key file left at mode %v", st.Mode().Perm())
	}
	os.WriteFile(path, []byte("zz"), 0o600)
	if _, err := LoadOrCreateKey(path); err == nil {
		t.Fatal("garbage key accepted")
	}
}

func TestCredentials(t *testing.T) {
	c1, d1 := NewCredential()
	c2, _ := NewCredential()
	if c1 == c2 || !strings.HasPrefix(c1, "otec_") || len(c1) < 40 {
		t.Fatalf("credentials %q %q", c1, c2)
	}
	if strings.Contains(string(d1), c1) || len(d1) != 64 {
		t.Fatalf("digest %q", d1)
	}
	if !CredentialMatches(c1, d1) || CredentialMatches(c2, d1) || CredentialMatches("", d1) {
		t.Fatal("CredentialMatches gave a wrong answer")
	}
	if !TokenMatches("boot", "boot") || TokenMatches("boot", "Boot") || TokenMatches("", "") {
		t.Fatal("TokenMatches gave a wrong answer")
	}
}

// A password of the seed's 20 characters can be 80 bytes; bcrypt takes 72.
func TestValidatePasswordBytes(t *testing.T) {
	long := "𐐀𝟎" + strings.Repeat("𐐨", 18) // 20 characters, 80 bytes
	if err := ValidatePassword(long); err != ErrPasswordTooLong {
		t.Fatalf("ValidatePassword(80 bytes) = %v, want ErrPasswordTooLong", err)
	}
	fits := "𐐀𝟎" + strings.Repeat("𐐨", 16) // 18 characters, 72 bytes
	if err := ValidatePassword(fits); err != nil {
		t.Fatalf("ValidatePassword(72 bytes) = %v", err)
	}
	if _, err := HashPassword(fits); err != nil {
		t.Fatalf("HashPassword(72 bytes) = %v", err)
	}
}
