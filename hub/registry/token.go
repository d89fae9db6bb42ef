// Package registry is the hub's side of its OCI registry: the bearer tokens
// of the registry token-auth spec, the embedded distribution registry, the
// client the hub uses to read and delete images, and the index of images and
// tags that the hub keeps for its API.
package registry

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Access is one resource and the actions granted on it, as in the "access"
// claim of a registry token.
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// ParseScope parses one scope of a token request:
// "repository:project/image:pull,push" (the name may hold a port-less
// registry host's colons only in the resource class, which we refuse).
func ParseScope(s string) (Access, error) {
	typ, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Access{}, fmt.Errorf("scope %q: want type:name:actions", s)
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return Access{}, fmt.Errorf("scope %q: want type:name:actions", s)
	}
	name, acts := rest[:i], rest[i+1:]
	if strings.Contains(typ, "(") { // "repository(plugin)": a resource class
		typ = typ[:strings.IndexByte(typ, '(')]
	}
	var actions []string
	for a := range strings.SplitSeq(acts, ",") {
		if a = strings.TrimSpace(a); a != "" && !slices.Contains(actions, a) {
			actions = append(actions, a)
		}
	}
	return Access{Type: typ, Name: name, Actions: actions}, nil
}

// Issuer signs registry tokens with an Ed25519 key. The registry trusts it
// through the JSON Web Key Set of JWKS, which names the key by its kid.
type Issuer struct {
	// Name is the token's iss; the registry's auth.token.issuer.
	Name string
	// Service is the token's aud; the registry's auth.token.service.
	Service string
	// TTL is how long a token is good for.
	TTL time.Duration

	key ed25519.PrivateKey
	kid string
}

// NewIssuer makes an issuer whose key is derived from seed (32 bytes).
func NewIssuer(name, service string, seed []byte, ttl time.Duration) (*Issuer, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("registry token key seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	key := ed25519.NewKeyFromSeed(seed)
	return &Issuer{Name: name, Service: service, TTL: ttl, key: key, kid: thumbprint(key.Public().(ed25519.PublicKey))}, nil
}

// thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key: the
// SHA-256 of its required members in lexical order.
func thumbprint(pub ed25519.PublicKey) string {
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// KeyID is the kid of the signing key.
func (is *Issuer) KeyID() string { return is.kid }

// JWKS is the JSON Web Key Set with the public key, for the registry's
// auth.token.jwks file.
func (is *Issuer) JWKS() []byte {
	b, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": is.kid,
		"x": base64.RawURLEncoding.EncodeToString(is.key.Public().(ed25519.PublicKey)),
	}}})
	return b
}

type claims struct {
	jwt.RegisteredClaims
	Access []Access `json:"access"`
}

// Issue signs a token for subject ("" for anonymous) granting access.
func (is *Issuer) Issue(subject string, access []Access, now time.Time) (token string, expires time.Time, err error) {
	if access == nil {
		access = []Access{}
	}
	jti := make([]byte, 12)
	if _, err := rand.Read(jti); err != nil {
		return "", time.Time{}, err
	}
	expires = now.Add(is.TTL)
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    is.Name,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{is.Service},
			ExpiresAt: jwt.NewNumericDate(expires),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Second)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        hex.EncodeToString(jti),
		},
		Access: access,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = is.kid
	token, err = t.SignedString(is.key)
	return token, expires, err
}

// Verify checks a token this issuer signed and returns what it grants (for
// tests and for tools that hold a token).
func (is *Issuer) Verify(token string) (subject string, access []Access, err error) {
	var c claims
	_, err = jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if t.Header["kid"] != is.kid {
			return nil, fmt.Errorf("unknown kid %v", t.Header["kid"])
		}
		return is.key.Public(), nil
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(is.Name), jwt.WithAudience(is.Service))
	if err != nil {
		return "", nil, err
	}
	return c.Subject, c.Access, nil
}
