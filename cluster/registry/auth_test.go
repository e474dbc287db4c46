package registry

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckPasswordRules(t *testing.T) {
	tests := []struct {
		name     string
		password string
		want     error
	}{
		{"eight characters are enough", "abcdefgh", nil},
		{"seven characters are too few", "abcdefg", ErrWeakPassword},
		{"characters are counted, not bytes", "ééééééé", ErrWeakPassword},
		{"eight multi-byte characters are enough", "éééééééé", nil},
		{"MaxPasswordLen bytes are allowed", strings.Repeat("a", MaxPasswordLen), nil},
		{"more than MaxPasswordLen bytes are refused", strings.Repeat("a", MaxPasswordLen+1), ErrWeakPassword},
		{"invalid UTF-8 is refused", "abcdefgh\xff", ErrWeakPassword},
		{"empty is refused", "", ErrWeakPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckPasswordRules(tt.password); !errorIs(err, tt.want) {
				t.Fatalf("CheckPasswordRules = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestHashAndCheckPassword(t *testing.T) {
	h, err := HashPassword(fastArgon2, seeded(2), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=8,t=1,p=1$") {
		t.Fatalf("hash %q does not carry its parameters", h)
	}
	tests := []struct {
		name     string
		password string
		want     error
	}{
		{"the password matches", "correct horse", nil},
		{"another password does not", "correct horsf", ErrBadPassword},
		{"a prefix does not", "correct hors", ErrBadPassword},
		{"an overlong password does not", strings.Repeat("a", MaxPasswordLen+1), ErrBadPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckPassword(h, tt.password); !errorIs(err, tt.want) {
				t.Fatalf("CheckPassword = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("each hash has its own salt", func(t *testing.T) {
		h2, _ := HashPassword(fastArgon2, seeded(3), "correct horse")
		if h2 == h {
			t.Fatal("two salts gave one hash")
		}
	})
	t.Run("a weak password is not hashed", func(t *testing.T) {
		if _, err := HashPassword(fastArgon2, seeded(2), "short"); !errors.Is(err, ErrWeakPassword) {
			t.Fatalf("HashPassword = %v", err)
		}
	})
	t.Run("parameters out of bounds are refused", func(t *testing.T) {
		p := fastArgon2
		p.MemoryKiB = maxArgonMemory + 1
		if _, err := HashPassword(p, seeded(2), "correct horse"); !errors.Is(err, ErrBadHash) {
			t.Fatalf("HashPassword = %v", err)
		}
	})
	t.Run("a salt that cannot be read is an error", func(t *testing.T) {
		if _, err := HashPassword(fastArgon2, bytes.NewReader(nil), "correct horse"); err == nil {
			t.Fatal("HashPassword with no randomness succeeded")
		}
	})
	if err := DefaultArgon2.Validate(); err != nil {
		t.Fatalf("DefaultArgon2: %v", err)
	}
}

func TestCheckPasswordRefusesUnusableHashes(t *testing.T) {
	salt, key := "AAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAA"
	tests := []struct {
		name string
		hash string
	}{
		{"empty", ""},
		{"argon2i", "$argon2i$v=19$m=8,t=1,p=1$" + salt + "$" + key},
		{"another version", "$argon2id$v=16$m=8,t=1,p=1$" + salt + "$" + key},
		{"parameters out of order", "$argon2id$v=19$t=1,m=8,p=1$" + salt + "$" + key},
		{"a missing parameter", "$argon2id$v=19$m=8,t=1$" + salt + "$" + key},
		{"an extra parameter", "$argon2id$v=19$m=8,t=1,p=1,x=1$" + salt + "$" + key},
		{"a leading zero", "$argon2id$v=19$m=08,t=1,p=1$" + salt + "$" + key},
		{"4 GiB of memory", "$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + key},
		{"a thousand passes", "$argon2id$v=19$m=8,t=1000,p=1$" + salt + "$" + key},
		{"300 threads", "$argon2id$v=19$m=8000,t=1,p=300$" + salt + "$" + key},
		{"zero threads", "$argon2id$v=19$m=8,t=1,p=0$" + salt + "$" + key},
		{"a short salt", "$argon2id$v=19$m=8,t=1,p=1$AAAA$" + key},
		{"padded base64", "$argon2id$v=19$m=8,t=1,p=1$" + salt + "=$" + key},
		{"a trailing field", "$argon2id$v=19$m=8,t=1,p=1$" + salt + "$" + key + "$"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckPassword(tt.hash, "password1"); !errors.Is(err, ErrBadHash) {
				t.Fatalf("CheckPassword = %v, want ErrBadHash", err)
			}
		})
	}
	t.Run("a canonical hash of these bytes parses", func(t *testing.T) {
		if _, err := parseHash("$argon2id$v=19$m=8,t=1,p=1$" + salt + "$" + key); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTokens(t *testing.T) {
	key := bytes.Repeat([]byte{1}, MinTokenKeyLen)
	good := IssueToken(key, "ann", t0, time.Hour)
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	tampered := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	tests := []struct {
		name  string
		key   []byte
		token string
		now   time.Time
		want  error
	}{
		{"a fresh token names its user", key, good, t0, nil},
		{"a token is good until a second before expiry", key, good, t0.Add(time.Hour - time.Second), nil},
		{"a token expires at now+ttl", key, good, t0.Add(time.Hour), ErrTokenExpired},
		{"a token long expired is expired", key, good, t0.Add(1000 * time.Hour), ErrTokenExpired},
		{"another key's token is forged", bytes.Repeat([]byte{2}, MinTokenKeyLen), good, t0, ErrTokenForged},
		{"a changed expiry is forged", key, tampered(5), t0, ErrTokenForged},
		{"a changed name is forged", key, tampered(10), t0, ErrTokenForged},
		{"a changed signature is forged", key, tampered(len(raw) - 1), t0, ErrTokenForged},
		{"a key too short verifies nothing", key[:MinTokenKeyLen-1], good, t0, ErrTokenForged},
		{"an empty token is malformed", key, "", t0, ErrTokenMalformed},
		{"padded base64 is malformed", key, good + "=", t0, ErrTokenMalformed},
		{"standard base64 is malformed", key, strings.Repeat("+", 60), t0, ErrTokenMalformed},
		{"a truncated token is malformed", key, good[:20], t0, ErrTokenMalformed},
		{"an overlong token is malformed", key, strings.Repeat("A", maxTokenLen+1), t0, ErrTokenMalformed},
		{"a Bearer prefix is malformed", key, "Bearer " + good, t0, ErrTokenMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user, err := VerifyToken(tt.key, tt.token, tt.now)
			if !errorIs(err, tt.want) {
				t.Fatalf("VerifyToken = %q, %v; want %v", user, err, tt.want)
			}
			if err == nil && user != "ann" {
				t.Fatalf("user = %q, want ann", user)
			}
		})
	}
	t.Run("a signed token of another version is malformed", func(t *testing.T) {
		b := bytes.Clone(raw[:len(raw)-32])
		b[0] = 2
		tok := base64.RawURLEncoding.EncodeToString(sign(key, b))
		if _, err := VerifyToken(key, tok, t0); !errors.Is(err, ErrTokenMalformed) {
			t.Fatalf("VerifyToken = %v", err)
		}
	})
	t.Run("the longest name fits", func(t *testing.T) {
		name := strings.Repeat("z", MaxNameLen)
		if user, err := VerifyToken(key, IssueToken(key, name, t0, time.Minute), t0); err != nil || user != name {
			t.Fatalf("VerifyToken = %q, %v", user, err)
		}
	})
}

func sign(key, body []byte) []byte {
	return append(bytes.Clone(body), hmacSHA256(key, body)...)
}

func TestIssueTokenPanicsOnCallerBugs(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
		user string
	}{
		{"a short key", []byte("short"), "ann"},
		{"an invalid name", bytes.Repeat([]byte{1}, 32), "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("IssueToken did not panic")
				}
			}()
			IssueToken(tt.key, tt.user, t0, time.Hour)
		})
	}
}

func hmacSHA256(key, b []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return m.Sum(nil)
}
