// Package auth holds the hub's identity primitives: password hashing and the
// seed's password rule, JWT access tokens, and the signing key on disk.
package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// BcryptCost is the work factor of stored password hashes. Tests that create
// many users lower it; nothing else should change it.
var BcryptCost = 11

// ErrPasswordRule is returned for passwords that break the seed's rule.
var ErrPasswordRule = errors.New("must be 8-20 characters long with at least 1 uppercase letter, 1 lowercase letter and 1 number")

// MaxPasswordBytes is bcrypt's limit: it reads no more than 72 bytes of a
// password, and refuses longer ones.
const MaxPasswordBytes = 72

// ErrPasswordTooLong is returned for passwords longer than MaxPasswordBytes
// in UTF-8, which 20 characters outside ASCII can be.
var ErrPasswordTooLong = fmt.Errorf("must be at most %d bytes in UTF-8 (20 characters of 4 bytes are 80)", MaxPasswordBytes)

// ValidatePassword applies the seed's rule: 8-20 characters with at least one
// upper case letter, one lower case letter and one digit, and bcrypt's: at
// most MaxPasswordBytes bytes.
func ValidatePassword(pw string) error {
	if len(pw) > MaxPasswordBytes {
		return ErrPasswordTooLong
	}
	n := 0
	var upper, lower, digit bool
	for _, r := range pw {
		n++
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		}
	}
	if n < 8 || n > 20 || !upper || !lower || !digit {
		return ErrPasswordRule
	}
	return nil
}

// HashPassword returns the bcrypt hash of pw.
func HashPassword(pw string) ([]byte, error) {
	return bcrypt.GenerateFromPassword([]byte(pw), BcryptCost)
}

var (
	dummyOnce sync.Once
	dummyHash []byte
)

// CheckPassword reports whether pw matches hash. With a nil hash (no such user)
// it still spends the time of one bcrypt comparison, so that a login does not
// tell apart unknown users from wrong passwords by its latency.
func CheckPassword(hash []byte, pw string) bool {
	if len(hash) == 0 {
		dummyOnce.Do(func() { dummyHash, _ = HashPassword("Dummy-password-0") })
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(pw))
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(pw)) == nil
}

// GeneratePassword returns a random 20-character password that satisfies
// ValidatePassword (about 119 bits of entropy).
func GeneratePassword() string {
	const (
		upper = "ABCDEFGHJKLMNPQRSTUVWXYZ"
		lower = "abcdefghijkmnopqrstuvwxyz"
		digit = "23456789"
		all   = upper + lower + digit
	)
	for {
		b := make([]byte, 20)
		for i := range b {
			b[i] = all[randInt(len(all))]
		}
		if ValidatePassword(string(b)) == nil {
			return string(b)
		}
	}
}

func randInt(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return int(v.Int64())
}
