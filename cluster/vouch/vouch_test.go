package vouch

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func keys(t testing.TB, seed byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytesOf(seed, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b + byte(i)
	}
	return out
}

func device(t testing.TB) Device {
	pub, _ := keys(t, 9)
	return Device{User: "bob", Device: DeviceID(pub), Key: pub, Issued: t0, Expires: t0.Add(time.Hour)}
}

func ticket() Ticket {
	return Ticket{User: "bob", Image: strings.Repeat("ab", 16), Digest: sha256.Sum256([]byte("png")), Issued: t0, Expires: t0.Add(time.Hour)}
}

func TestADeviceStatementChecksWithTheCloudKeyAndSaysWhatWasSigned(t *testing.T) {
	cloud, priv := keys(t, 1)
	d := device(t)
	text, err := SignDevice(priv, d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyDevice(cloud, text, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.User != d.User || got.Device != d.Device || !got.Key.Equal(d.Key) || !got.Issued.Equal(d.Issued) || !got.Expires.Equal(d.Expires) {
		t.Fatalf("got %+v, signed %+v", got, d)
	}
}

func TestATicketChecksWithTheCloudKeyAndSaysWhatWasSigned(t *testing.T) {
	cloud, priv := keys(t, 1)
	tk := ticket()
	text, err := SignTicket(priv, tk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyTicket(cloud, text, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got != tk {
		t.Fatalf("got %+v, signed %+v", got, tk)
	}
}

func TestStatementsThatMustNotPass(t *testing.T) {
	cloud, priv := keys(t, 1)
	_, other := keys(t, 2)
	good, _ := SignDevice(priv, device(t))
	byOther, _ := SignDevice(other, device(t))
	tk, _ := SignTicket(priv, ticket())
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	cases := []struct {
		name string
		text string
		now  time.Time
		want error
	}{
		{"signed by another key", byOther, t0, ErrForged},
		{"a byte of the body changed", flip(good, 10), t0, ErrForged},
		{"a byte of the signature changed", flip(good, len(good)-3), t0, ErrForged},
		{"a ticket shown as a device statement", tk, t0, ErrForged},
		{"expired", good, t0.Add(time.Hour), ErrExpired},
		{"issued further in the future than the skew", good, t0.Add(-Skew - time.Second), ErrExpired},
		{"empty", "", t0, ErrMalformed},
		{"not base64url", "!!!", t0, ErrMalformed},
		{"too long", strings.Repeat("A", MaxEncodedLen+1), t0, ErrMalformed},
		{"truncated", good[:20], t0, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := VerifyDevice(cloud, c.text, c.now)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestANewerVersionIsRefusedByName(t *testing.T) {
	cloud, priv := keys(t, 1)
	b := header(kindDevice)
	b[len(magic)] = Version + 1
	d := device(t)
	b = appendStr(b, d.User)
	b = append(b, d.Key...)
	b = appendTimes(b, d.Issued, d.Expires)
	_, err := VerifyDevice(cloud, seal(priv, b), t0)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("err = %v, want ErrMalformed naming version 2", err)
	}
}

func TestSigningRefusesAStatementThatCouldNotBeRead(t *testing.T) {
	_, priv := keys(t, 1)
	d := device(t)
	d.Device = strings.Repeat("0", 32)
	if _, err := SignDevice(priv, d); err == nil {
		t.Fatal("signed a device id that is not its key's")
	}
	d = device(t)
	d.Expires = d.Issued
	if _, err := SignDevice(priv, d); err == nil {
		t.Fatal("signed a statement that expires when it is issued")
	}
	tk := ticket()
	tk.Image = "AB"
	if _, err := SignTicket(priv, tk); err == nil {
		t.Fatal("signed a ticket for a malformed image id")
	}
}

func TestDeviceIDIsBoundToTheKey(t *testing.T) {
	a, _ := keys(t, 1)
	b, _ := keys(t, 2)
	if DeviceID(a) == DeviceID(b) || len(DeviceID(a)) != 32 || DeviceID(a) != DeviceID(append(ed25519.PublicKey(nil), a...)) {
		t.Fatalf("ids %s %s", DeviceID(a), DeviceID(b))
	}
}

func FuzzVerify(f *testing.F) {
	cloud, priv := keys(f, 1)
	good, _ := SignDevice(priv, device(f))
	tk, _ := SignTicket(priv, ticket())
	ls, _ := SignLease(priv, lease())
	f.Add(good)
	f.Add(tk)
	f.Add(ls)
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		if d, err := VerifyDevice(cloud, text, t0); err == nil {
			if d.Device != DeviceID(d.Key) || d.User == "" {
				t.Fatalf("accepted an inconsistent statement %+v", d)
			}
		}
		if tk, err := VerifyTicket(cloud, text, t0); err == nil {
			if tk.validate() != nil {
				t.Fatalf("accepted an invalid ticket %+v", tk)
			}
		}
		if l, err := VerifyLease(cloud, text, t0); err == nil {
			if l.validate() != nil {
				t.Fatalf("accepted an invalid lease %+v", l)
			}
			again, _ := SignLease(priv, l)
			if back, err := VerifyLease(cloud, again, t0); err != nil || back != l {
				t.Fatalf("a lease that does not read back as signed: %+v, %v", back, err)
			}
		}
	})
}

func lease() Lease {
	return Lease{
		ID: strings.Repeat("1", 32), User: "bob", Device: strings.Repeat("2", 32), Image: strings.Repeat("3", 32),
		Digest: [32]byte{4}, Views: 3, Issued: t0.Add(-time.Minute), Expires: t0.Add(time.Hour),
	}
}

// A lease reads back as signed; another kind, another key, an altered
// byte or an expired one does not pass.
func TestALeaseIsTheCloudsWordAndNothingElse(t *testing.T) {
	cloud, priv := keys(t, 1)
	other, _ := keys(t, 2)
	l := lease()
	text, err := SignLease(priv, l)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyLease(cloud, text, t0)
	if err != nil || got != l {
		t.Fatalf("VerifyLease = %+v, %v; want %+v", got, err, l)
	}
	if _, err := VerifyLease(other, text, t0); !errors.Is(err, ErrForged) {
		t.Fatalf("another cloud's key: %v", err)
	}
	tk, _ := SignTicket(priv, ticket())
	if _, err := VerifyLease(cloud, tk, t0); !errors.Is(err, ErrForged) {
		t.Fatalf("a ticket as a lease: %v", err)
	}
	if _, err := VerifyLease(cloud, text, l.Expires); !errors.Is(err, ErrExpired) {
		t.Fatalf("at its expiry: %v", err)
	}
	raw := []byte(text)
	raw[10] ^= 1
	if _, err := VerifyLease(cloud, string(raw), t0); err == nil {
		t.Fatal("an altered lease passed")
	}
	bad := l
	bad.Views = 0
	if _, err := SignLease(priv, bad); err == nil {
		t.Fatal("signed a lease of no views")
	}
}
