package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
)

// Cluster credentials are random 256-bit tokens. They carry their own
// entropy, so the hub stores a SHA-256 digest (not bcrypt, which is for
// low-entropy passwords): ten thousand agents reconnecting after a restart
// cost ten thousand hashes of a few hundred nanoseconds.

// credentialPrefix makes a leaked credential recognisable in a scan.
const credentialPrefix = "otec_"

// NewCredential returns a fresh credential and the digest to store.
func NewCredential() (credential string, digest []byte) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	credential = credentialPrefix + base64.RawURLEncoding.EncodeToString(b)
	return credential, CredentialDigest(credential)
}

// CredentialDigest is the stored form of a credential: hex SHA-256.
func CredentialDigest(credential string) []byte {
	sum := sha256.Sum256([]byte(credential))
	out := make([]byte, hex.EncodedLen(len(sum)))
	hex.Encode(out, sum[:])
	return out
}

// CredentialMatches compares a presented credential with a stored digest in
// constant time.
func CredentialMatches(credential string, digest []byte) bool {
	return subtle.ConstantTimeCompare(CredentialDigest(credential), digest) == 1
}

// TokenMatches compares a presented secret with the expected one in
// constant time (the agents' bootstrap token).
func TokenMatches(presented, expected string) bool {
	a := sha256.Sum256([]byte(presented))
	b := sha256.Sum256([]byte(expected))
	return expected != "" && subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
