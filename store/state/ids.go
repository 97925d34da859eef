package state

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"strings"
)

// KeyPrefix starts every API key Keel issues, so that secret scanners and
// people recognise one.
const KeyPrefix = "keel_"

// NewID returns a random id: 16 bytes of crypto/rand as 26 characters of
// lower-case base32, sortable by nothing and guessable by no one.
func NewID() string {
	return strings.ToLower(encoding.EncodeToString(random(16)))
}

// GenerateKey returns a new API key's secret (shown to its owner once)
// and the Key fields derived from it: Hash and Prefix. The secret has 256
// bits of entropy, so a fast hash (SHA-256) is the right one: there is
// nothing to brute-force, and checking a key costs a microsecond.
func GenerateKey() (secret string, k Key) {
	secret = KeyPrefix + strings.ToLower(encoding.EncodeToString(random(32)))
	return secret, Key{ID: NewID(), Hash: HashKey(secret), Prefix: secret[:len(KeyPrefix)+6]}
}

// HashKey is how a key's secret is stored and looked up.
func HashKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return b
}

var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)
