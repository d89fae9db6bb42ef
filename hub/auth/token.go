package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenTTL is the validity of an access token (the seed's "1 hour").
const TokenTTL = time.Hour

const issuer = "ote-hub"

// Claims are the contents of an access token.
type Claims struct {
	jwt.RegisteredClaims
	// Generation is the user's token generation at issue time; a password
	// change moves the user's generation on and so kills older tokens.
	Generation int64 `json:"gen"`
}

// UserID is the numeric subject.
func (c *Claims) UserID() (uint64, error) {
	return strconv.ParseUint(c.Subject, 10, 64)
}

// Tokens issues and verifies HS256 access tokens.
type Tokens struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// NewTokens returns a token issuer and verifier keyed by key.
func NewTokens(key []byte) (*Tokens, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("JWT key is %d bytes, want at least 32", len(key))
	}
	return &Tokens{key: key, ttl: TokenTTL, now: time.Now}, nil
}

// WithClock replaces the clock (tests).
func (t *Tokens) WithClock(now func() time.Time) *Tokens {
	t.now = now
	return t
}

// Issue returns a signed token for user id at token generation gen.
func (t *Tokens) Issue(userID uint64, gen int64) (string, *Claims, error) {
	now := t.now()
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", nil, err
	}
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   strconv.FormatUint(userID, 10),
			ID:        hex.EncodeToString(jti[:]),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
		},
		Generation: gen,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.key)
	if err != nil {
		return "", nil, err
	}
	return s, c, nil
}

// ErrInvalidToken covers every reason a token is refused; the reason is in
// the wrapped message.
var ErrInvalidToken = errors.New("invalid token")

// ErrTokenExpired is wrapped with ErrInvalidToken for a token past its expiry.
var ErrTokenExpired = errors.New("token has expired")

// Parse verifies signature, algorithm, issuer and expiry, and returns the claims.
func (t *Tokens) Parse(token string) (*Claims, error) {
	c := &Claims{}
	_, err := jwt.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return t.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrTokenExpired)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if _, err := c.UserID(); err != nil || c.ID == "" {
		return nil, fmt.Errorf("%w: malformed claims", ErrInvalidToken)
	}
	return c, nil
}
