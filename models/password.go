package models

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn/frequency"
	"golang.org/x/crypto/argon2"
)

// Password hashing: argon2id with OWASP's minimum parameters (19 MiB, t=2,
// p=1), stored in the PHC string format so parameters can change later.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16

	// PasswordMinLen and PasswordMaxLen bound a password, in characters. It
	// is never truncated: the whole of it is hashed.
	PasswordMinLen = 8
	PasswordMaxLen = 256
)

var b64 = base64.RawStdEncoding

// HashPassword returns the PHC-encoded argon2id hash of password.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("password: malformed hash")

// VerifyPassword reports whether password matches the PHC-encoded hash.
func VerifyPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var mem, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil || mem == 0 || t == 0 || p == 0 || mem > 1<<22 {
		return false, errBadHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	// Hashes we write have 32-byte keys; a longer one is not ours (and its
	// length must fit argon2's uint32).
	if len(want) > 1<<10 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, t, mem, p, uint32(len(want))) //nolint:gosec // G115: at most 1 KiB, checked above
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

var (
	dummyOnce sync.Once
	dummyHash string
)

// BurnPasswordCheck does the work of one password verification against a
// throwaway hash, so that "no such user" takes as long as "wrong password".
func BurnPasswordCheck(password string) {
	dummyOnce.Do(func() { dummyHash, _ = HashPassword("codex32-timing-equaliser") })
	_, _ = VerifyPassword(dummyHash, password)
}

var (
	commonOnce sync.Once
	common     map[string]struct{}
)

// commonPasswords is the 30,000-entry list of the most used passwords that
// zxcvbn ships, keeping the ones long enough to pass the length rule.
func commonPasswords() map[string]struct{} {
	commonOnce.Do(func() {
		list := frequency.FrequencyLists["passwords"]
		common = make(map[string]struct{}, len(list)/2)
		for _, p := range list {
			if utf8.RuneCountInString(p) >= PasswordMinLen {
				common[p] = struct{}{}
			}
		}
	})
	return common
}

// CheckPasswordPolicy returns a message for a password that may not be used,
// or "" when it is acceptable.
func CheckPasswordPolicy(password, email string) string {
	n := utf8.RuneCountInString(password)
	switch {
	case n < PasswordMinLen:
		return fmt.Sprintf("must be at least %d characters", PasswordMinLen)
	case n > PasswordMaxLen:
		return fmt.Sprintf("must be at most %d characters", PasswordMaxLen)
	}
	lower := strings.ToLower(password)
	if _, ok := commonPasswords()[lower]; ok {
		return "is one of the most commonly used passwords; choose another"
	}
	if email != "" && (strings.EqualFold(password, email) || strings.EqualFold(password, strings.Split(email, "@")[0])) {
		return "must not be your email address"
	}
	return ""
}
