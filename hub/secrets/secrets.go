// Package secrets seals credentials the hub keeps (external repositories'
// passwords) with AES-256-GCM, so that the database holds only ciphertext.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// Sealer encrypts and decrypts with one key.
type Sealer struct {
	aead   cipher.AEAD
	mac    []byte
	derive []byte
}

// New derives an AES-256 key (and a separate fingerprint key) from key,
// which must hold at least 32 bytes.
func New(key []byte) (*Sealer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("secret key is %d bytes, want at least 32", len(key))
	}
	enc := sha256.Sum256(append([]byte("ote-seal:"), key...))
	mac := sha256.Sum256(append([]byte("ote-fingerprint:"), key...))
	derive := sha256.Sum256(append([]byte("ote-derive:"), key...))
	block, err := aes.NewCipher(enc[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead, mac: mac[:], derive: derive[:]}, nil
}

// Seal encrypts plaintext bound to context (e.g. the row it belongs to, so
// that a ciphertext moved to another row does not open).
func (s *Sealer) Seal(plaintext, context string) string {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	out := s.aead.Seal(nonce, nonce, []byte(plaintext), []byte(context))
	return "v1:" + base64.StdEncoding.EncodeToString(out)
}

// ErrOpen is returned for a ciphertext that does not open with this key and
// context.
var ErrOpen = errors.New("sealed secret does not open")

// Open decrypts what Seal made with the same key and context.
func (s *Sealer) Open(sealed, context string) (string, error) {
	if len(sealed) < 3 || sealed[:3] != "v1:" {
		return "", ErrOpen
	}
	raw, err := base64.StdEncoding.DecodeString(sealed[3:])
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", ErrOpen
	}
	pt, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], []byte(context))
	if err != nil {
		return "", ErrOpen
	}
	return string(pt), nil
}

// Fingerprint is a keyed digest of parts: it changes when they change and
// tells nothing of them.
func (s *Sealer) Fingerprint(parts ...string) string {
	h := hmac.New(sha256.New, s.mac)
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Derive returns 32 bytes for purpose, fixed by the key: hub replicas that
// share the secret key derive the same keys (e.g. the registry token
// signing key) without another file to distribute.
func (s *Sealer) Derive(purpose string) []byte {
	h := hmac.New(sha256.New, s.derive)
	h.Write([]byte(purpose))
	return h.Sum(nil)
}
